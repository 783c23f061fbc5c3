"""The delivery engine's promises, with real PostgreSQL, Redis and a real worker where it matters:
concurrent batch claims are disjoint, one recipient's messages arrive in the order they were accepted,
and a delivery waiting for a rate-limit slot holds no worker process (email flows meanwhile)."""

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.notifications import dispatch
from apps.notifications.models import Delivery, Notification
from apps.notifications.outbox.claim import deliveries_claim
from apps.notifications.planning import MessageSource, notification_create
from core.utils.redis import get_redis
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import CeleryWorker, wait_for

# A channel no worker drains: rows of it stay put for the claim tests even while the session's worker
# runs beside them (a commit would wake it for a real channel).
IDLE = "idle-test-channel"


def idle_deliveries(n: int) -> list[int]:
    customer = Customer.objects.create(name="Idle", email="idle@example.com", channels=["email"])
    notification = notification_create(
        customer=customer, event="custom", source=MessageSource(message="Hi"), channels=["email"]
    )
    now = timezone.now()
    rows = Delivery.objects.bulk_create(
        Delivery(notification=notification, channel=IDLE, address=f"r{i}@example.com", next_attempt_at=now)
        for i in range(n)
    )
    return [d.pk for d in rows]


def queue_emails(n: int, prefix: str = "c") -> list[Customer]:
    customers = Customer.objects.bulk_create(
        Customer(name=f"{prefix}{i}", email=f"{prefix}{i}@example.com", channels=["email"]) for i in range(n)
    )
    for customer in customers:
        notification_create(
            customer=customer, event="custom", source=MessageSource(message="Hi"), channels=["email"]
        )
    return customers


@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_rows_another_worker_holds(require_postgres: None) -> None:
    """Worker A has claimed a batch and not committed yet; worker B's claim at that moment neither
    waits for A's rows nor takes them, it takes the next ones (FOR UPDATE SKIP LOCKED)."""
    ids = idle_deliveries(20)
    held = threading.Event()
    done = threading.Event()
    claimed: dict[str, list[int]] = {}

    def worker_a() -> None:
        try:
            with transaction.atomic():
                claimed["a"] = [d.pk for d in deliveries_claim(channel=IDLE, limit=7)]
                held.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    def worker_b() -> None:
        try:
            held.wait(timeout=30)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")  # blocking on A's rows fails the test
            claimed["b"] = [d.pk for d in deliveries_claim(channel=IDLE, limit=7)]
        finally:
            done.set()
            connection.close()

    threads = [threading.Thread(target=worker_a), threading.Thread(target=worker_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(claimed["a"]) == 7
    assert len(claimed["b"]) == 7
    assert not set(claimed["a"]) & set(claimed["b"])
    assert sorted(claimed["a"] + claimed["b"]) == sorted(ids)[:14]  # both took from the front


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_never_claim_one_delivery_twice(require_postgres: None) -> None:
    ids = idle_deliveries(200)
    claimed: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def claim(slot: int) -> None:
        try:
            connection.ensure_connection()
            start.wait()
            while batch := deliveries_claim(channel=IDLE, limit=7):
                claimed[slot] += [d.pk for d in batch]
                time.sleep(0.002)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)


@pytest.mark.django_db
def test_high_priority_deliveries_are_claimed_first() -> None:
    queue_emails(5)
    buyer = Customer.objects.create(name="Buyer", email="buyer@example.com", channels=["email"])
    urgent = notification_create(
        customer=buyer,
        event="order_status_changed",
        source=MessageSource(message="Shipped"),
        priority="high",
    )

    [first] = deliveries_claim(channel="email", limit=1)

    assert first.notification_id == urgent.pk


@pytest.fixture
def bot_window_full(require_redis: str) -> Iterator[threading.Event]:
    """Keep every slot of the bot's Telegram limit taken, as another busy worker would, until the
    test sets the returned event."""
    client = get_redis()
    assert client is not None
    release = threading.Event()

    def hold() -> None:
        while not release.is_set():
            seconds, micros = client.time()
            now = seconds + micros / 1_000_000
            pipe = client.pipeline()
            pipe.delete("ratelimit:telegram:bot")
            pipe.zadd("ratelimit:telegram:bot", {f"held-{n}": now for n in range(30)})
            pipe.execute()
            release.wait(0.2)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    yield release
    release.set()
    holder.join(timeout=5)
    client.delete("ratelimit:telegram:bot")


@pytest.mark.slow
def test_email_flows_while_telegram_waits_for_slots_and_nobody_holds_the_waiting(
    integration: CeleryWorker,
    bot_window_full: threading.Event,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
) -> None:
    chats = Customer.objects.bulk_create(
        Customer(name=f"Chat {i}", telegram_chat_id=str(6100 + i), channels=["telegram"]) for i in range(10)
    )
    for customer in chats:
        notification_create(
            customer=customer, event="custom", source=MessageSource(message="Hi"), channels=["telegram"]
        )
    # The Telegram drain has run and found no slot: it left a timer wake for when one frees.
    timers, client = f"{dispatch.wake_key('telegram')}:timer:*", get_redis()
    assert client is not None
    assert wait_for(lambda: client.keys(timers), timeout=30)
    queue_emails(40, prefix="mail")
    holders: list[int] = []

    def emails_in() -> bool:
        holders.append(Delivery.objects.filter(channel="telegram", status="sending").count())
        return len(fake_smtp.messages) == 40

    assert wait_for(emails_in, timeout=60)
    assert fake_telegram.messages == []  # every slot is still taken
    waiting = Delivery.objects.filter(channel="telegram")
    assert set(waiting.values_list("status", flat=True)) == {"queued"}
    assert max(holders) == 0  # no process held a waiting delivery while email went out

    bot_window_full.set()
    assert wait_for(lambda: len(fake_telegram.messages) == 10, timeout=60)


@pytest.mark.slow
def test_sends_to_one_chat_arrive_in_the_order_they_were_accepted(
    integration: CeleryWorker, api: APIClient, make_customer: Any, fake_telegram: FakeTelegram
) -> None:
    customer = make_customer(email="", telegram_chat_id=4711, channels=["telegram"])
    for n in range(5):
        response = api.post(
            "/api/v1/notifications/send/",
            {"customer": customer["id"], "message": f"Message {n}", "channels": ["telegram"]},
            format="json",
        )
        assert response.status_code == 202

    assert wait_for(lambda: len(fake_telegram.texts(4711)) == 5, timeout=60)
    assert fake_telegram.texts(4711) == [f"Message {n}" for n in range(5)]


@pytest.mark.slow
def test_a_drain_woken_before_anything_is_due_leaves_a_wake_for_what_waits(
    integration: CeleryWorker, fake_smtp: FakeSMTP
) -> None:
    """Retries due in two seconds, and a drain woken now (as a timer of an earlier, shorter wait
    would): it finds nothing to send, and still the retries go out when due, with no sweep running."""
    customer = Customer.objects.create(name="Later", email="later@example.com", channels=["email"])
    notification = Notification.objects.create(customer=customer, event="custom", channels=["email"])
    due = timezone.now() + timedelta(seconds=2)
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            channel="email",
            address=f"later{i}@example.com",
            subject="Later",
            body=f"Retry {i}",
            body_plain=f"Retry {i}",
            status="retrying",
            attempts=1,
            next_attempt_at=due,
        )
        for i in range(3)
    )

    dispatch.outbox_wake(["email"])

    assert wait_for(lambda: len(fake_smtp.messages) == 3, timeout=30)
    assert set(Delivery.objects.filter(notification=notification).values_list("status", flat=True)) == {
        "sent"
    }


@pytest.mark.django_db(transaction=True)
def test_two_workers_finishing_one_notification_at_once_leave_it_sent(require_postgres: None) -> None:
    """Worker A records its delivery of a notification and holds the notification's row lock; worker B
    records the other delivery and waits for that lock. Once A commits, B must see A's delivery sent:
    the statuses are read after the lock is taken, not in the statement that waited for it."""
    from apps.notifications.status import notifications_refresh_status

    customer = Customer.objects.create(name="Both", email="both@example.com", channels=["email"])
    notification = Notification.objects.create(customer=customer, event="custom", channels=[IDLE, IDLE])
    first, second = Delivery.objects.bulk_create(
        Delivery(notification=notification, channel=IDLE, address=f"b{i}@example.com", status="sending")
        for i in range(2)
    )
    a_holds_the_lock, a_may_commit = threading.Event(), threading.Event()

    def finish(delivery: Delivery, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                Delivery.objects.filter(pk=delivery.pk).update(status="sent")
                notifications_refresh_status([notification.pk])
                if hold:
                    a_holds_the_lock.set()
                    a_may_commit.wait(timeout=30)
        finally:
            connection.close()

    a = threading.Thread(target=finish, args=(first,), kwargs={"hold": True})
    a.start()
    assert a_holds_the_lock.wait(timeout=30)
    b = threading.Thread(target=finish, args=(second,), kwargs={"hold": False})
    b.start()

    def b_waits_for_the_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return bool(cursor.fetchone()[0])

    assert wait_for(b_waits_for_the_lock, timeout=30)
    a_may_commit.set()
    for thread in (a, b):
        thread.join(timeout=30)

    notification.refresh_from_db()
    assert notification.status == "sent"


@pytest.mark.parametrize(
    ("earlier", "later_claimed"),
    [
        ({"status": "retrying", "attempts": 1, "wait": 30}, True),  # after a 5xx: holds back nobody
        ({"status": "queued", "attempts": 0, "wait": 30}, False),  # a rate-limit wait: order kept
        ({"status": "queued", "attempts": 0, "wait": 3600}, True),  # quiet hours: beyond the horizon
    ],
)
def test_an_earlier_message_to_the_recipient_holds_back_the_later_one_only_before_its_first_try(
    db: None, earlier: dict[str, Any], later_claimed: bool
) -> None:
    """Per recipient, first attempts go in the order accepted; a delivery retrying after a provider
    failure, or held for quiet hours, does not hold back the messages behind it."""
    customer = Customer.objects.create(name="Order", email="order@example.com", channels=["email"])
    notification = Notification.objects.create(customer=customer, event="custom", channels=["email"])
    now = timezone.now()
    _, second = Delivery.objects.bulk_create(
        [
            Delivery(
                notification=notification,
                channel=IDLE,
                address="order@example.com",
                status=earlier["status"],
                attempts=earlier["attempts"],
                next_attempt_at=now + timedelta(seconds=earlier["wait"]),
            ),
            Delivery(
                notification=notification, channel=IDLE, address="order@example.com", next_attempt_at=now
            ),
        ]
    )

    claimed = [d.pk for d in deliveries_claim(channel=IDLE, limit=10)]

    assert claimed == ([second.pk] if later_claimed else [])
