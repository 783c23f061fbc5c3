"""Shared fixtures: API keys and clients, customers and orders made through the API, event recording."""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from apps.api_gateway.services import api_key_create
from apps.notifications.channels import channel_factory
from apps.notifications.models import Delivery
from apps.orders.events import OrderCreated, OrderStatusChanged
from apps.orders.models import OrderEvent
from core.patterns.observer import event_bus
from core.utils.net import port_open
from tests.fakes.esp import FakePostmark
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack, private_stack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import CeleryWorker, provider_settings, seed_default_templates, wait_for, worker_env


def pytest_sessionstart(session: pytest.Session) -> None:
    """With REQUIRE_SERVICES=1 a missing PostgreSQL or Redis fails the run instead of skipping tests."""
    if os.environ.get("REQUIRE_SERVICES") != "1":
        return
    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("the test database is not PostgreSQL (set DATABASE_URL)")
    if not settings.REDIS_URL:
        problems.append("Redis is not reachable (set REDIS_URL)")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {settings.REDIS_URL} does not answer: {exc}")
    if problems:
        pytest.exit("REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


@pytest.fixture
def require_postgres() -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL is required")
        pytest.skip("needs PostgreSQL")


def redis_answers(url: str) -> bool:
    """The Redis server REDIS_URL names (not a fixed address) accepts connections."""
    parts = urlsplit(url)
    return port_open(parts.hostname or "127.0.0.1", parts.port or 6379)


@pytest.fixture
def require_redis() -> str:
    if not settings.REDIS_URL or not redis_answers(str(settings.REDIS_URL)):
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("Redis is required")
        pytest.skip("needs Redis")
    return str(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture(autouse=True)
def _worker_done_before_flush(request: pytest.FixtureRequest) -> Iterator[None]:
    """A committed-data test may leave work that a worker of the session (started by an earlier
    integration test) is planning or sending: wait for it before pytest-django truncates the tables,
    or the TRUNCATE and the worker's transaction deadlock."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if not transactional:
        yield
        return
    request.getfixturevalue("transactional_db")  # set up first, so torn down (flushed) after this
    yield
    worker_settle()


def worker_settle() -> None:
    """Nothing pending is left to claim, and what is being planned or sent is waited for."""
    OrderEvent.objects.filter(status="pending").delete()
    wait_for(lambda: not OrderEvent.objects.filter(status="planning").exists(), timeout=30)
    Delivery.objects.filter(status__in=["queued", "retrying"]).update(
        status="skipped", skip_reason="duplicate"
    )
    wait_for(lambda: not Delivery.objects.filter(status="sending").exists(), timeout=30)


@pytest.fixture
def api_key(db: None) -> str:
    _, plaintext = api_key_create(name="tests")
    return plaintext


@pytest.fixture
def api(api_key: str) -> APIClient:
    """A client that sends a valid, writable API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def anon(db: None) -> APIClient:
    return APIClient()


@pytest.fixture
def make_customer(api: APIClient) -> Callable[..., dict[str, Any]]:
    def make(**fields: Any) -> dict[str, Any]:
        body = {"name": "Ada Lovelace", "email": "ada@example.com", **fields}
        response = api.post("/api/v1/customers/", body, format="json")
        assert response.status_code == 201, response.json()
        return dict(response.json())

    return make


@pytest.fixture
def make_order(api: APIClient, make_customer: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def make(**fields: Any) -> dict[str, Any]:
        if "customer" not in fields:
            fields["customer"] = make_customer()["id"]
        body = {"items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "9.99"}], **fields}
        response = api.post("/api/v1/orders/", body, format="json")
        assert response.status_code == 201, response.json()
        return dict(response.json())

    return make


@pytest.fixture
def order_events() -> Iterator[list[object]]:
    """Every order event published while the test runs, in order."""
    seen: list[object] = []
    for event_type in (OrderCreated, OrderStatusChanged):
        event_bus.subscribe(event_type, seen.append)
    yield seen
    for event_type in (OrderCreated, OrderStatusChanged):
        event_bus.unsubscribe(event_type, seen.append)


def plan_order_events() -> int:
    """Plan every due order event now, in this process, as the planner task does in a worker (the
    request that changes an order only writes the event). Returns how many were planned."""
    from apps.notifications.outbox.planner import order_events_plan

    planned = 0
    while True:
        result = order_events_plan(budget=10)
        planned += result.sent
        if not result.sent:
            return planned


def error_of(response: Any) -> dict[str, Any]:
    """The error object of an envelope, checking the envelope's shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


# --- integration: fake providers and a real Celery worker ----------------------------------------


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_smtp() -> Iterator[FakeSMTP]:
    server = FakeSMTP().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_esp() -> Iterator[FakePostmark]:
    """A fake email service provider (Postmark's HTTP API) on loopback; reset it before use."""
    server = FakePostmark()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None,
    django_db_blocker: Any,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[CeleryWorker]:
    """One real `celery worker` for the session, on the test database, the broker and the fakes."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("integration tests need PostgreSQL and Redis")
        pytest.skip("integration tests need PostgreSQL and Redis")
    env = worker_env(
        fake_telegram=fake_telegram,
        fake_smtp=fake_smtp,
        # JSON logs with httpx's URL lines switched on: the tests read them for request ids and secrets.
        LOG_FORMAT="json",
        LOG_LEVEL_HTTPX="INFO",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path_factory.mktemp("prometheus")),
    )
    worker = CeleryWorker(env=env, log_path=Path("var/test-worker.log"))
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def smtp_sink(settings: Any, fake_smtp: FakeSMTP) -> Iterator[FakeSMTP]:
    """The email channel of this process sends to the SMTP fake over SMTP (not to the in-memory
    outbox), for in-process drains that should cost and behave as a real send does."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", fake_smtp.port
    channel_factory.reset()
    fake_smtp.reset()
    yield fake_smtp
    channel_factory.reset()


@pytest.fixture
def integration(
    transactional_db: None,
    settings: Any,
    celery_worker_process: CeleryWorker,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
) -> Iterator[CeleryWorker]:
    """A committed-data test with the worker running and both channels pointed at the fakes."""
    for name, value in provider_settings(fake_telegram=fake_telegram, fake_smtp=fake_smtp).items():
        setattr(settings, name, value)
    channel_factory.reset()
    seed_default_templates()
    fake_telegram.reset()
    fake_smtp.reset()
    celery_worker_process.ensure_running()
    yield celery_worker_process
    channel_factory.reset()
    # The worker finishes with this test's rows before pytest-django truncates the tables (the
    # autouse fixture above settles it again; by then there is nothing left).
    worker_settle()


@pytest.fixture
def stacks(
    transactional_db: None,
    require_redis: str,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    tmp_path: Path,
) -> Iterator[Callable[..., Stack]]:
    """Start private stacks of the service's processes (the options of `private_stack` in
    tests/fakes/stack.py, and `fake_smtp=` for another sink), each logging into a directory of its own;
    all stopped, and their Redis databases emptied and handed back, after the test."""
    with contextlib.ExitStack() as started:

        def start(**options: Any) -> Stack:
            directory = tmp_path / f"stack-{len(list(tmp_path.glob('stack-*')))}"
            directory.mkdir()
            options = {"fake_telegram": fake_telegram, "fake_smtp": fake_smtp, **options}
            return started.enter_context(private_stack(directory, **options))

        yield start
