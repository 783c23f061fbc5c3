"""Part f of `make bench`: email providers (issue 20's targets), with a worker whose EMAIL_PROVIDERS are
an SMTP sink (primary) and a fake Postmark API (backup), both in this process.

- failover: the sink is stopped under a stream of emails; from the first refused connection (the
  primary's first failed attempt, as recorded) to the first message the backup took, and whether
  every message arrived exactly once across the two;
- tracking: Postmark delivery events posted to the tracking webhook (the view runs in this process,
  the worker applies them): from each post to its delivery's status change, p50/p99.
"""

import base64
import json
import os
import time
from typing import Any

N_FAILOVER = int(os.environ.get("BENCH_FAILOVER", "300"))
N_TRACKING = int(os.environ.get("BENCH_TRACKING", "200"))
TRACKING_RATE = 50.0  # posts per second
SECRET = "bench:tracking"  # noqa: S105 - the bench's own throwaway credentials


def provider_env(smtp_port: int, esp_url: str) -> dict[str, str]:
    from tests.fakes.esp import TOKEN

    return {
        "EMAIL_PORT": str(smtp_port),
        "EMAIL_PROVIDERS": "primary=smtp,backup=postmark",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": TOKEN,
        "ANYMAIL_POSTMARK_API_URL": esp_url,
        "ANYMAIL_WEBHOOK_SECRET": SECRET,
    }


def _send(prefix: str, count: int) -> list[int]:
    from django.db import transaction

    from apps.customers.models import Customer
    from apps.notifications.planning import MessageSource, notification_create

    customers = Customer.objects.bulk_create(
        Customer(name=f"{prefix} {i}", email=f"{prefix}{i}@bench.example", channels=["email"])
        for i in range(count)
    )
    source = MessageSource(subject="Hi", message="Hello {{ customer.name }}.")
    with transaction.atomic():
        return [
            notification_create(customer=c, event="custom", source=source, channels=["email"]).pk
            for c in customers
        ]


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def bench_failover(sink: Any, esp: Any) -> dict[str, Any]:
    from apps.notifications.models import DeliveryAttempt

    _send("before", 50)
    _wait(lambda: len(sink.messages) >= 50, 60)
    sink.stop()
    stopped = time.time()
    _send("failover", N_FAILOVER)
    _wait(lambda: len(esp.messages) >= N_FAILOVER, 120)
    first_failure = (
        DeliveryAttempt.objects.filter(provider="primary", outcome="transient_error")
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    backup_times = sorted(m["received_at"] for m in esp.messages)
    arrived = [str(m["To"]) for m in sink.messages] + [m["To"] for m in esp.messages]
    failure_at = first_failure.timestamp() if first_failure else stopped
    return {
        "messages": N_FAILOVER,
        "through_backup": len(esp.messages),
        "duplicates": len(arrived) - len(set(arrived)),
        "first_backup_after_first_failure_s": round(backup_times[0] - failure_at, 3)
        if backup_times
        else None,
        "all_backup_after_first_failure_s": round(backup_times[-1] - failure_at, 2) if backup_times else None,
        "primary_calls_after_stop": DeliveryAttempt.objects.filter(
            provider="primary", outcome="transient_error"
        ).count(),
    }


def bench_tracking(count: int = N_TRACKING) -> dict[str, Any]:
    from django.test import Client

    from apps.notifications.models import Delivery
    from tests.fakes.esp import delivery_event

    ids = _send("tracked", count)
    _wait(lambda: Delivery.objects.filter(notification_id__in=ids, status="sent").count() >= count, 120)
    deliveries = dict(
        Delivery.objects.filter(notification_id__in=ids).values_list("pk", "provider_message_id")
    )
    client = Client()
    auth = "Basic " + base64.b64encode(SECRET.encode()).decode()
    posted: dict[int, float] = {}
    changed: dict[int, float] = {}
    pending = set(deliveries)
    started = time.monotonic()
    for n, (pk, message_id) in enumerate(deliveries.items()):
        while time.monotonic() < started + n / TRACKING_RATE:  # posts paced at TRACKING_RATE
            _collect(pending, changed)
            time.sleep(0.002)
        posted[pk] = time.time()
        answer = client.post(
            "/anymail/postmark/tracking/",
            json.dumps(delivery_event(message_id)),
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            HTTP_HOST="127.0.0.1",
        )
        assert answer.status_code == 200, answer.content
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        _collect(pending, changed)
        time.sleep(0.01)
    latencies = sorted(changed[pk] - posted[pk] for pk in changed)
    return {
        "events": count,
        "applied": len(changed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000) if latencies else None,
        "max_ms": round(latencies[-1] * 1000) if latencies else None,
    }


def _collect(pending: set[int], changed: dict[int, float]) -> None:
    from apps.notifications.models import Delivery

    if not pending:
        return
    now = time.time()
    for pk in Delivery.objects.filter(pk__in=pending, status="delivered").values_list("pk", flat=True):
        changed[pk] = now
        pending.discard(pk)


def provider_rows(r: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    rows: list[tuple[str, str, str, Any]] = []
    if f := r.get("failover"):
        rows.append((f"sink down, {f['messages']} emails", f"first via backup {f['first_backup_after_first_failure_s']} s "
                     f"after the first failure, all in {f['all_backup_after_first_failure_s']} s",
                     "target 5 s", f"{f['duplicates']} twice"))  # fmt: skip
    if t := r.get("tracking"):
        rows.append((f"{t['events']} tracking events", f"applied {t['applied']}: p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms",
                     "target p99 2 s", ""))  # fmt: skip
    return rows
