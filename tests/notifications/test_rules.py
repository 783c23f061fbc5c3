"""Delivery rules decided when notifications are created: dedup window, superseding, hourly cap,
dead letters and their replay (no worker needed: these are decided in the database)."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.notifications.models import Delivery, Notification
from apps.notifications.planning import MessageSource, notification_create
from tests.conftest import plan_order_events
from tests.fakes.smtp import FakeSMTP, text_of

pytestmark = pytest.mark.django_db

SEND = "/api/v1/notifications/send/"


@pytest.fixture
def ada() -> Customer:
    return Customer.objects.create(name="Ada", email="ada@example.com", channels=["email"])


def send(customer: Customer, message: str) -> Notification:
    return notification_create(
        customer=customer, event="custom", source=MessageSource(message=message), channels=["email"]
    )


def email_of(notification: Notification) -> Delivery:
    return Delivery.objects.get(notification=notification, channel="email")


def test_identical_message_within_the_window_is_skipped_as_duplicate(ada: Customer, settings: Any) -> None:
    first = send(ada, "Your code is 1234")
    second = send(ada, "Your code is 1234")
    different = send(ada, "Your code is 5678")

    assert email_of(first).status == "queued"
    assert (email_of(second).status, email_of(second).skip_reason) == ("skipped", "duplicate")
    assert email_of(different).status == "queued"
    second.refresh_from_db()
    assert second.status == "suppressed"


def test_duplicates_are_decided_per_channel(settings: Any) -> None:
    """The message went by email; on Telegram it failed: sent again, only Telegram goes."""
    settings.TELEGRAM_BOT_TOKEN = "123:configured"
    both = Customer.objects.create(
        name="Both", email="both@example.com", telegram_chat_id="77", channels=["email", "telegram"]
    )

    def again() -> dict[str, tuple[str, str]]:
        notification = notification_create(
            customer=both,
            event="custom",
            source=MessageSource(message="Code 42"),
            channels=["email", "telegram"],
        )
        return {d.channel: (d.status, d.skip_reason) for d in notification.deliveries.all()}

    assert again() == {"email": ("queued", ""), "telegram": ("queued", "")}
    Delivery.objects.filter(channel="telegram").update(status="failed")

    assert again() == {"email": ("skipped", "duplicate"), "telegram": ("queued", "")}


def test_identical_message_after_the_window_is_sent_again(ada: Customer, settings: Any) -> None:
    settings.NOTIFICATION_DEDUP_WINDOW = 0
    send(ada, "Hello")
    assert email_of(send(ada, "Hello")).status == "queued"


def test_a_failed_message_does_not_block_its_repeat(ada: Customer) -> None:
    first = send(ada, "Hello")
    Delivery.objects.filter(pk=email_of(first).pk).update(status="failed")
    assert email_of(send(ada, "Hello")).status == "queued"


def test_newer_status_supersedes_a_waiting_one(api: APIClient, make_order: Any) -> None:
    order = make_order()
    url = f"/api/v1/orders/{order['id']}/status/"
    api.put(url, {"status": "confirmed"}, format="json")
    api.put(url, {"status": "processing"}, format="json")
    api.put(url, {"status": "cancelled"}, format="json")
    plan_order_events()

    by_key = {n.dedup_key: n for n in Notification.objects.filter(order_id=order["id"])}
    statuses = {
        str(key).rsplit(":", 1)[1]: [(d.status, d.skip_reason) for d in n.deliveries.filter(channel="email")]
        for key, n in by_key.items()
    }
    assert statuses == {
        "pending": [("queued", "")],  # the receipt is not a status change: never superseded
        "confirmed": [("skipped", "superseded")],
        "processing": [("skipped", "superseded")],
        "cancelled": [("queued", "")],
    }
    assert by_key[f"order:{order['id']}:confirmed"].status == "suppressed"


def test_hourly_cap_skips_api_sends_but_not_order_events(
    api: APIClient, settings: Any, make_customer: Any, make_order: Any
) -> None:
    settings.NOTIFICATION_CUSTOMER_HOURLY_CAP = 2
    customer = make_customer(email="cap@example.com")
    bodies = [{"customer": customer["id"], "message": f"Offer {i}"} for i in range(3)]

    results = [api.post(SEND, body, format="json").json() for body in bodies]
    make_order(customer=customer["id"])
    plan_order_events()

    email_status = [
        [(d["status"], d["skip_reason"]) for d in r["deliveries"] if d["channel"] == "email"] for r in results
    ]
    assert email_status == [[("queued", "")], [("queued", "")], [("skipped", "rate_limited")]]
    order_event = Notification.objects.get(customer_id=customer["id"], event="order_created")
    assert email_of(order_event).status == "queued"


@pytest.fixture
def dead(ada: Customer) -> list[Delivery]:
    deliveries = [email_of(send(ada, f"m{i}")) for i in range(3)]
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status="failed", attempts=8, last_error="smtp_550: no such user"
    )
    return deliveries


def test_dead_letters_are_listed_and_replayed_through_the_api(api: APIClient, dead: list[Delivery]) -> None:
    listed = api.get("/api/v1/notifications/dead-letters/", {"channel": "email"}).json()
    replay = api.post("/api/v1/notifications/dead-letters/replay/", {"ids": [dead[0].pk]}, format="json")

    assert sorted(d["id"] for d in listed["results"]) == sorted(d.pk for d in dead)
    assert listed["results"][0]["last_error"] == "smtp_550: no such user"
    assert replay.status_code == 202
    assert replay.json() == {"replayed": 1}
    dead[0].refresh_from_db()
    assert (dead[0].status, dead[0].attempts) == ("queued", 0)
    assert Notification.objects.get(pk=dead[0].notification_id).status == "queued"
    again = api.post("/api/v1/notifications/dead-letters/replay/", {"ids": [dead[0].pk]}, format="json")
    assert again.json() == {"replayed": 0}  # only failed deliveries are replayed


def test_replay_dead_letters_command(dead: list[Delivery]) -> None:
    dry, out = StringIO(), StringIO()

    call_command("replay_dead_letters", "--dry-run", stdout=dry)
    call_command("replay_dead_letters", "--channel", "email", "--id", str(dead[1].pk), stdout=out)

    assert "3 dead letters (dry run" in dry.getvalue()
    assert "Replayed 1 dead letters" in out.getvalue()
    assert Delivery.objects.filter(status="failed").count() == 2


def test_an_unexpected_channel_error_spends_attempts_and_ends_in_failed(ada: Customer, settings: Any) -> None:
    from apps.notifications.channels import channel_factory
    from apps.notifications.outbox.pump import outbox_drain

    settings.NOTIFICATION_CHANNELS = {"email": "tests.fakes.channels.ExplodingEmailChannel"}
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    channel_factory.reset()
    try:
        delivery = email_of(send(ada, "Hello"))
        outbox_drain(channel="email")
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("retrying", 1)
        assert delivery.last_error == "internal_error: RuntimeError: boom"

        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
        outbox_drain(channel="email")
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("failed", 2)
    finally:
        channel_factory.reset()


def test_sweep_counts_a_lost_send_as_an_attempt(ada: Customer, settings: Any) -> None:
    from apps.notifications.models import DeliveryAttempt
    from apps.notifications.outbox.sweep import outbox_sweep

    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    delivery = email_of(send(ada, "Hello"))
    # Claimed by a drain that died: its lease ran out.
    stuck = {"status": "sending", "claimed_at": delivery.created_at, "lease_until": delivery.created_at}

    Delivery.objects.filter(pk=delivery.pk).update(**stuck)
    outbox_sweep()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("retrying", 1)

    Delivery.objects.filter(pk=delivery.pk).update(**stuck)
    outbox_sweep()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("error_code", flat=True)) == [
        "worker_lost",
        "worker_lost",
    ]


def test_sweep_derives_statuses_a_dead_worker_left_behind(ada: Customer, settings: Any) -> None:
    """A worker that died after recording its attempt but before the status pass leaves the
    notification `queued` with every delivery final; the sweep derives the status again."""
    from apps.notifications.outbox.sweep import outbox_sweep

    notification = send(ada, "Hello")
    Delivery.objects.filter(notification=notification).update(status="sent")
    settings.NOTIFICATION_REENQUEUE_AFTER = 0

    outbox_sweep()

    notification.refresh_from_db()
    assert notification.status == "sent"


@pytest.mark.parametrize("batch", [50, 3, 1])
def test_a_drain_sends_every_due_delivery_in_batches(ada: Customer, settings: Any, batch: int) -> None:
    from apps.notifications.outbox.pump import outbox_drain

    others = [
        Customer.objects.create(name=f"C{n}", email=f"c{n}@example.com", channels=["email"]) for n in range(6)
    ]
    deliveries = [email_of(send(customer, "Hello")) for customer in others]

    result = outbox_drain(channel="email", batch_size=batch)

    assert result.sent == 6
    assert result.batches == -(-6 // batch)  # ceil: every batch but the last is full
    assert set(
        Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).values_list("status", flat=True)
    ) == {"sent"}
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_one_recipient_gets_its_messages_in_the_order_they_were_accepted(
    ada: Customer, smtp_sink: FakeSMTP
) -> None:
    """A batch never holds two first attempts to one recipient (the later waits for the earlier), so
    the email channel's parallel connections cannot reorder them: they reach the server in order."""
    from apps.notifications.outbox.pump import outbox_drain

    sent = [email_of(send(ada, f"Message {n}")) for n in range(5)]

    result = outbox_drain(channel="email", batch_size=50)

    assert result.sent == 5
    assert result.batches == 5
    assert [text_of(m).splitlines()[0] for m in smtp_sink.to("ada@example.com")] == [
        f"Message {n}" for n in range(5)
    ]
    assert all(d.status == "sent" for d in Delivery.objects.filter(pk__in=[d.pk for d in sent]))


def test_a_marketing_retry_that_would_land_in_quiet_hours_waits_for_their_end(
    ada: Customer, settings: Any
) -> None:
    import zoneinfo
    from datetime import time

    from django.utils import timezone

    from apps.notifications.channels import channel_factory
    from apps.notifications.outbox.pump import outbox_drain

    settings.NOTIFICATION_CHANNELS = {"email": "tests.fakes.channels.ExplodingEmailChannel"}
    channel_factory.reset()
    try:
        delivery = email_of(send(ada, "Spring sale"))  # created outside quiet hours: due now
        hour = timezone.now().astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).hour
        Customer.objects.filter(pk=ada.pk).update(
            time_zone="Asia/Tokyo",
            quiet_hours_start=time((hour - 1) % 24),
            quiet_hours_end=time((hour + 2) % 24),
        )

        outbox_drain(channel="email")  # fails: the retry would fall inside quiet hours

        delivery.refresh_from_db()
        ada.refresh_from_db()
        assert delivery.status == "retrying"
        assert delivery.next_attempt_at == ada.quiet_hours_end_after(timezone.now())
    finally:
        channel_factory.reset()
