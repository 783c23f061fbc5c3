"""Redis Sentinel failover under load, with real processes: a Redis master, a replica and three
Sentinels; gunicorn, a worker and beat configured with REDIS_SENTINELS only. Orders are posted at a
steady pace while the master is killed with SIGKILL and the Sentinels promote the replica: every
request answers 2xx, every order's email and Telegram message arrives, none twice (no worker dies,
so nothing is in doubt), and every 429 the fake Telegram server answers is honoured."""

import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.api_gateway.services import api_key_create
from apps.customers.models import Customer
from apps.notifications.models import Delivery
from tests.fakes.sentinel import MASTER_NAME, SentinelGroup
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.slow]

RATE = 10  # orders per second
CHANNELS = ["telegram", "email"]
# Seconds of orders before the kill, and after the Sentinels have named the new master; how long the
# promotion takes depends on the machine's load, so orders keep coming until it has happened (at most
# PROMOTION_LIMIT seconds after the kill).
BEFORE, AFTER, PROMOTION_LIMIT = 3.0, 5.0, 120.0


@pytest.fixture
def sentinel_stack(
    integration: CeleryWorker, stacks: Callable[..., Stack], tmp_path: Path
) -> Iterator[tuple[SentinelGroup, Stack]]:
    group = SentinelGroup(tmp_path).start()
    stack: Stack | None = None
    try:
        stack = stacks(
            redis_url="redis://sentinel/0",
            # The Sentinels win over its host; its database stays (on the group's master).
            CELERY_BROKER_URL="redis://127.0.0.1:6379/1",
            purge=False,  # a new Redis: nothing to purge
            web=True,
            web_workers=2,
            beat=True,
            REDIS_SENTINELS=group.hosts,
            REDIS_SENTINEL_MASTER=MASTER_NAME,
            NOTIFICATION_SWEEP_INTERVAL="1",
            NOTIFICATION_REENQUEUE_AFTER="2",
        )
        yield group, stack
    finally:
        if stack is not None:
            stack.stop()  # while its Redis still runs (the stacks fixture's teardown comes after this)
        group.stop()


def test_master_killed_during_steady_orders_loses_nothing(
    sentinel_stack: tuple[SentinelGroup, Stack],
    fake_smtp: FakeSMTP,
    fake_telegram: FakeTelegram,
) -> None:
    group, stack = sentinel_stack
    old_master = group.master.port
    client = stack.client(api_key_create(name="sentinel")[1])
    customers = Customer.objects.bulk_create(
        Customer(name=f"C{i}", email=f"c{i}@example.com", telegram_chat_id=str(9000 + i), channels=CHANNELS)
        for i in range(20)
    )
    codes: Counter[int] = Counter()
    slowest = 0.0
    started = time.monotonic()
    killed_at: float | None = None
    promoted_after: float | None = None
    posted = 0
    while True:
        now = time.monotonic()
        if killed_at is None and now - started >= BEFORE:
            group.master.stop(signal.SIGKILL)
            killed_at = now
        if killed_at is not None and promoted_after is None and group.master_port() not in (None, old_master):
            promoted_after = now - killed_at
        if killed_at is not None and (
            (promoted_after is not None and now - killed_at >= promoted_after + AFTER)
            or now - killed_at >= PROMOTION_LIMIT
        ):
            break
        body = {
            "customer": customers[posted % len(customers)].pk,
            "items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
        }
        request_started = time.monotonic()
        codes[client.post("/api/v1/orders/", json=body).status_code] += 1
        slowest = max(slowest, time.monotonic() - request_started)
        posted += 1
        time.sleep(max(0.0, started + posted / RATE - time.monotonic()))
    assert killed_at is not None

    def delivered() -> bool:
        return Delivery.objects.filter(status="sent").count() == 2 * posted

    assert wait_for(delivered, timeout=120, interval=0.5), stack.logs()
    after_kill = Delivery.objects.filter(created_at__gt=_wall(killed_at), channel="email")
    first_sent = min(d.sent_at for d in after_kill if d.sent_at is not None)
    resumed_after = (first_sent - _wall(killed_at)).total_seconds()
    emails = Counter(str(m["Subject"]) for m in fake_smtp.messages)
    telegrams = Counter(fake_telegram.texts())
    duplicates = sum(emails.values()) - len(emails) + sum(telegrams.values()) - len(telegrams)
    print(
        f"\nsentinel failover: {posted} orders at {RATE}/s, status codes {dict(codes)}, slowest request "
        f"{slowest:.2f} s, new master named {promoted_after} s after the kill, first email of an order "
        f"accepted after the kill sent {resumed_after:.1f} s after it, {duplicates} duplicates, "
        f"{fake_telegram.rate_limited} x 429 {Counter(fake_telegram.limited_by)}"
    )
    assert codes == Counter({201: posted})
    assert promoted_after is not None  # the replica was promoted while orders came in
    assert len(emails) == posted
    assert len(telegrams) == posted
    assert duplicates == 0  # no worker died: nothing was sent without being recorded
    assert fake_telegram.retried_too_soon() == []


def _wall(monotonic_at: float) -> datetime:
    """A monotonic instant as an aware datetime (for comparing with database timestamps)."""
    return timezone.now() - timedelta(seconds=time.monotonic() - monotonic_at)
