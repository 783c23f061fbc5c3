"""Where the time goes: pyinstrument profiles of the two hot paths, in-process on PostgreSQL.

    .venv/bin/python bench/profile.py [orders|send|order-detail|baseline|deliveries] [N]

`planner` plans N new orders' events; `orders` creates N orders through the API view (as gunicorn would run it, minus HTTP), `send` makes N
API sends, `order-detail` reads one order N times, `baseline` inserts N rows through the minimal DRF
endpoint `make bench` compares with; `deliveries` sends N email deliveries to an SMTP sink in its own
process. API kinds first run N requests without the profiler and print the time and queries per
request, then profile N more. Prints the call tree (wall clock); uses a scratch database of its own.
"""

import atexit
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("DJANGO_BENCH_BASE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_profile")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> None:
    import django
    from pyinstrument import Profiler

    kind = sys.argv[1] if len(sys.argv) > 1 else "deliveries"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.db import connection

    # Persistent connections with health checks, as production runs (the test settings open one
    # connection per request).
    connection.settings_dict.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    _create_database()
    call_command("migrate", verbosity=0)
    work = {"deliveries": _deliveries, "planner": _planner}.get(kind, lambda n: _api(kind, n))(n)
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        work()
    elapsed = time.perf_counter() - started
    print(profiler.output_text(unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))))
    print(f"{kind}: {n} in {elapsed:.2f} s = {elapsed / n * 1000:.2f} ms each (under the profiler)")
    os._exit(0)  # the sink process ends with its parent's session


def _create_database() -> None:
    import psycopg
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    connection.close()


def _api(kind: str, n: int) -> Callable[[], None]:
    from django.db import connection
    from rest_framework.test import APIClient

    from apps.api_gateway.services import api_key_create
    from apps.customers.models import Customer
    from tests.fakes.worker import seed_default_templates

    seed_default_templates()
    customer = Customer.objects.create(
        name="Ada", email="ada@example.com", telegram_chat_id="42", channels=["telegram", "email"]
    )
    # Sends go to many customers, as a shop's do (one customer's hourly cap and history stay small).
    audience = Customer.objects.bulk_create(
        Customer(name=f"Reader {i}", email=f"reader{i}@example.com", channels=["email"]) for i in range(1000)
    )
    _, key = api_key_create(name="profile")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    order = {
        "customer": customer.pk,
        "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "9.99"}],
    }
    detail = client.post("/api/v1/orders/", order, format="json").json()["id"]
    requests: dict[str, Callable[[int], Any]] = {
        "orders": lambda i: client.post("/api/v1/orders/", order, format="json"),
        "send": lambda i: client.post(
            "/api/v1/notifications/send/",
            {
                "customer": audience[i % len(audience)].pk,
                "message": f"Hello {{{{ customer.name }}}} {i} {time.monotonic_ns()}",
                "channels": ["email"],
            },
            format="json",
        ),
        "order-detail": lambda i: client.get(f"/api/v1/orders/{detail}/"),
        "customer-detail": lambda i: client.get(f"/api/v1/customers/{customer.pk}/"),
        "baseline": lambda i: client.post("/api/v1/bench/insert/", {}, format="json"),
    }
    request = requests[kind]

    def run() -> None:
        for i in range(n):
            assert request(i).status_code < 300

    request(0)  # warm: caches, connections
    queries: list[str] = []

    def count(execute: Any, sql: str, *args: Any) -> Any:
        queries.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(count):
        request(1)
    started = time.perf_counter()
    run()
    each = (time.perf_counter() - started) / n * 1000
    print(f"{kind}: {each:.2f} ms per request without the profiler, {len(queries)} queries")
    return run


def _deliveries(n: int) -> Callable[[], None]:
    from django.conf import settings

    from apps.customers.models import Customer
    from apps.notifications.outbox.pump import outbox_drain
    from apps.notifications.planning import MessageSource, notification_create
    from tests.fakes.smtp import free_port

    # The sink runs in its own process, as in `make bench`: in this one it would compete for the GIL.
    port, stats_port = free_port(), free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.servers", "smtp", str(port), str(stats_port)], cwd=ROOT
    )
    atexit.register(sink.terminate)  # the profile is printed after `run`; the sink goes with the script
    _wait_for_port(port)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    customers = Customer.objects.bulk_create(
        Customer(name=f"R{i}", email=f"r{i}@example.com", channels=["email"]) for i in range(n)
    )
    from tests.fakes.worker import seed_default_templates

    seed_default_templates()
    order = {"number": "ORD-000123", "total": "24.98", "currency": "EUR", "status": "pending", "items": []}
    for customer in customers:  # the order email: text and HTML
        notification_create(
            customer=customer,
            event="custom",
            source=MessageSource(template_key="order_created"),
            channels=["email"],
            context={"order": order},
        )

    def run() -> None:
        outbox_drain(channel="email", budget=600)

    return run


def _planner(n: int) -> Callable[[], None]:
    """N new orders' events, planned into notifications and deliveries by the planner in-process."""
    from decimal import Decimal

    from apps.customers.models import Customer
    from apps.notifications.outbox.planner import order_events_plan
    from apps.orders.services import ItemInput, order_create
    from tests.fakes.worker import seed_default_templates

    seed_default_templates()
    customers = Customer.objects.bulk_create(
        Customer(name=f"R{i}", email=f"r{i}@example.com", channels=["email"]) for i in range(n)
    )
    items = [ItemInput(sku="MUG", name="Mug", quantity=1, unit_price=Decimal("9.99"))]
    for customer in customers:
        order_create(customer=customer, items=items)

    def run() -> None:
        order_events_plan(budget=600)

    return run


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


if __name__ == "__main__":
    main()
