"""Provider faults with a real worker: SMTP 4xx/5xx, Telegram 429, 403 and a 5xx outage that opens
the circuit. Counts are read from what the fake servers received and what the database recorded."""

import threading
from typing import Any

import httpx
import pytest
from django.conf import settings

from apps.customers.models import Customer
from apps.notifications.models import Delivery, DeliveryAttempt, Notification
from apps.notifications.planning import MessageSource, notification_create
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]

EMAIL = "grace@example.com"
CHAT = 7770001


def send(customer: Customer, message: str, **kwargs: Any) -> Notification:
    return notification_create(
        customer=customer, event="custom", source=MessageSource(message=message), **kwargs
    )


def finished(notification: Notification) -> bool:
    return not Delivery.objects.filter(
        notification=notification, status__in=["queued", "sending", "retrying"]
    ).exists()


@pytest.fixture
def grace() -> Customer:
    return Customer.objects.create(
        name="Grace", email=EMAIL, telegram_chat_id=str(CHAT), channels=["telegram", "email"]
    )


def outcomes(delivery: Delivery) -> list[str]:
    return list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("outcome", flat=True))


def test_smtp_451_three_times_then_success_takes_four_attempts(grace: Customer, fake_smtp: FakeSMTP) -> None:
    fake_smtp.answer("RCPT", "451 4.3.0 Try again later", times=3)

    notification = send(grace, "Hello", channels=["email"])

    assert wait_for(lambda: finished(notification), timeout=60)
    delivery = Delivery.objects.get(notification=notification)
    assert delivery.status == "sent"
    assert delivery.attempts == 4
    assert outcomes(delivery) == ["transient_error"] * 3 + ["sent"]
    assert len(fake_smtp.to(EMAIL)) == 1


def test_smtp_550_fails_after_one_attempt(grace: Customer, fake_smtp: FakeSMTP) -> None:
    fake_smtp.answer("RCPT", "550 5.1.1 No such user", times=5)

    notification = send(grace, "Hello", channels=["email"])

    assert wait_for(lambda: finished(notification))
    delivery = Delivery.objects.get(notification=notification)
    assert delivery.status == "failed"
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("smtp_550")
    assert fake_smtp.rcpt_calls == 1
    notification.refresh_from_db()
    assert notification.status == "failed"


def test_telegram_429_waits_retry_after_and_costs_no_attempt(
    grace: Customer, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail(429, "Too Many Requests: retry after 2", chat_id=CHAT, parameters={"retry_after": 2})

    notification = send(grace, "Hello", channels=["telegram"])

    assert wait_for(lambda: finished(notification))
    delivery = Delivery.objects.get(notification=notification)
    first, second = DeliveryAttempt.objects.filter(delivery=delivery).order_by("started_at")
    assert (first.outcome, second.outcome) == ("rate_limited", "sent")
    assert (second.started_at - first.started_at).total_seconds() >= 2
    assert delivery.throttled_attempts == 1
    assert fake_telegram.texts(CHAT) == ["Hello"]
    assert fake_telegram.retried_too_soon() == []


def test_the_fake_telegram_tells_a_429_retried_too_soon(fake_telegram: FakeTelegram) -> None:
    """The check the fault tests make after a drain can fail: a message sent again at once after a 429
    telling it to wait 2 s is reported."""
    fake_telegram.fail(429, "Too Many Requests: retry after 2", chat_id=CHAT, parameters={"retry_after": 2})
    url = f"{fake_telegram.url}/bot{TOKEN}/sendMessage"

    codes = [httpx.post(url, json={"chat_id": CHAT, "text": "Hello"}).status_code for _ in range(2)]

    assert codes == [429, 200]
    [(chat, waited, told)] = fake_telegram.retried_too_soon()
    assert (chat, told) == (str(CHAT), 2)
    assert waited < told


def test_the_fake_telegram_barrier_holds_the_first_sends_together_once(fake_telegram: FakeTelegram) -> None:
    """What the priority test relies on: a send is recorded at once but answered only when the
    barrier's parties are all in; after that generation, sends are answered alone."""
    fake_telegram.barrier = threading.Barrier(2)
    url = f"{fake_telegram.url}/bot{TOKEN}/sendMessage"
    answers: list[int] = []
    first = threading.Thread(
        target=lambda: answers.append(httpx.post(url, json={"chat_id": 1, "text": "a"}).status_code)
    )
    first.start()

    assert wait_for(lambda: fake_telegram.texts() == ["a"], interval=0.01)
    assert answers == []  # recorded, still held
    answers.append(httpx.post(url, json={"chat_id": 2, "text": "b"}).status_code)
    first.join()
    answers.append(httpx.post(url, json={"chat_id": 3, "text": "c"}, timeout=5).status_code)

    assert answers == [200, 200, 200]
    assert fake_telegram.barrier is None


def test_telegram_403_fails_at_once_marks_contact_and_fails_over(
    grace: Customer, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    fake_telegram.fail(403, "Forbidden: bot was blocked by the user", chat_id=CHAT, times=5)

    first = send(grace, "First", strategy="failover")
    assert wait_for(lambda: finished(first) and Delivery.objects.filter(notification=first).count() == 2)
    grace.refresh_from_db()
    second = send(grace, "Second", strategy="failover")
    assert wait_for(lambda: finished(second))

    telegram = Delivery.objects.get(notification=first, channel="telegram")
    assert telegram.status == "failed"
    assert telegram.attempts == 1
    assert grace.unreachable_channels == ["telegram"]
    later = Delivery.objects.get(notification=second, channel="telegram")
    assert (later.status, later.skip_reason) == ("skipped", "contact unreachable")
    assert [str(m["Subject"]) for m in fake_smtp.to(EMAIL)] == ["", ""]
    assert fake_smtp.rcpt_calls == 2
    assert fake_telegram.failed_calls == 1


def test_migrated_group_chat_is_followed(grace: Customer, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        chat_id=CHAT,
        parameters={"migrate_to_chat_id": -1001234567890},
    )

    notification = send(grace, "Hello group", channels=["telegram"])

    assert wait_for(lambda: finished(notification))
    delivery = Delivery.objects.get(notification=notification)
    assert delivery.status == "sent"
    assert fake_telegram.texts(-1001234567890) == ["Hello group"]
    grace.refresh_from_db()
    assert grace.telegram_chat_id == "-1001234567890"


def test_telegram_outage_opens_the_circuit_and_everything_arrives_after(fake_telegram: FakeTelegram) -> None:
    customers = Customer.objects.bulk_create(
        Customer(name=f"C{i}", telegram_chat_id=str(800000 + i), channels=["telegram"]) for i in range(20)
    )
    fake_telegram.outage(500, "Internal Server Error: try later", seconds=10)

    notifications = [send(c, f"Hello {i}") for i, c in enumerate(customers)]

    assert wait_for(lambda: all(finished(n) for n in notifications), timeout=90)
    deliveries = Delivery.objects.filter(notification__in=notifications, channel="telegram")
    statuses = list(deliveries.values_list("status", flat=True))
    assert statuses == ["sent"] * 20
    assert len(fake_telegram.messages) == 20  # each exactly once
    # Without the breaker every delivery would call until its attempts ran out. With it: the threshold,
    # the calls already in flight on the worker's processes, and one probe per cool-down.
    cooldown = float(2)  # CIRCUIT_RESET_TIMEOUT of the test worker
    in_flight = 2 * settings.TELEGRAM_CONNECTIONS  # 2 worker processes, each sending a batch that wide
    bound = settings.CIRCUIT_FAILURE_THRESHOLD + in_flight + int(10 / cooldown) + 1
    print(f"\ncircuit: {fake_telegram.failed_calls} provider calls failed during the outage (bound {bound})")
    assert 0 < fake_telegram.failed_calls <= bound


def test_unparsable_html_is_resent_once_as_plain_text(grace: Customer, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail(400, "Bad Request: can't parse entities: unsupported start tag", chat_id=CHAT)

    notification = send(grace, "Tom & Jerry <3", channels=["telegram"])

    assert wait_for(lambda: finished(notification))
    [message] = fake_telegram.messages
    assert message["parse_mode"] is None
    assert message["text"] == "Tom & Jerry <3"
    assert Delivery.objects.get(notification=notification).attempts == 1


def test_smtp_connections_are_kept_and_reused(fake_smtp: FakeSMTP, settings: Any) -> None:
    customers = Customer.objects.bulk_create(
        Customer(name=f"R{i}", email=f"r{i}@example.com", channels=["email"]) for i in range(30)
    )

    notifications = [send(c, f"Message {i}") for i, c in enumerate(customers)]

    assert wait_for(lambda: all(finished(n) for n in notifications))
    assert len(fake_smtp.messages) == 30
    # Each of the worker's 2 processes sends a batch over at most EMAIL_CONNECTIONS connections, and
    # keeps them: far fewer connections than messages.
    assert len(fake_smtp.connections) <= 2 * settings.EMAIL_CONNECTIONS < 30
