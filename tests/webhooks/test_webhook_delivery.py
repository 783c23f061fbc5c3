"""Webhook events end to end with a real worker and a receiver on 127.0.0.1 that verifies every
request with the `standardwebhooks` package: delivery and notification events arrive signed, a
receiver that is down or answers 500 gets everything later with the same ids, a rotated secret
overlaps, 410 disables, and a worker killed with events in flight loses none."""

import math
import signal
import time
from typing import Any

import pytest
from celery import current_app
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.notifications.models import Delivery
from apps.notifications.planning import MessageSource, notification_create
from apps.webhooks import dispatch
from apps.webhooks.models import WebhookEndpoint, WebhookMessage
from apps.webhooks.outbox import BATCH
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import SignedReceiver
from tests.fakes.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]

EVENTS = ["delivery.sent", "delivery.failed", "delivery.skipped", "notification.completed"]


def subscribe(api: APIClient, receiver: SignedReceiver, events: list[str] = EVENTS) -> dict[str, Any]:
    created = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": events}, format="json")
    assert created.status_code == 201, created.json()
    receiver.secrets = [created.json()["secret"]]
    return dict(created.json())


def send_email(name: str = "Ada") -> int:
    customer = Customer.objects.create(name=name, email=f"{name.lower()}@example.com", channels=["email"])
    return notification_create(customer=customer, event="custom", source=MessageSource(message="Hi")).pk


def test_delivery_and_notification_events_arrive_signed(api: APIClient, receiver: SignedReceiver) -> None:
    subscribe(api, receiver)

    notification_id = send_email()

    assert wait_for(lambda: len(receiver.accepted()) == 3, timeout=30)
    [skipped] = receiver.accepted("delivery.skipped")  # no Telegram chat: skipped at once
    assert skipped["body"]["data"]["channel"] == "telegram"
    [sent] = receiver.accepted("delivery.sent")
    assert sent["body"]["data"]["notification"] == notification_id
    assert sent["body"]["data"]["channel"] == "email"
    assert sent["body"]["data"]["status"] == "sent"
    assert sent["body"]["id"] == sent["id"]
    [completed] = receiver.accepted("notification.completed")
    assert completed["body"]["data"]["id"] == notification_id
    assert completed["body"]["data"]["status"] == "sent"
    assert all(r["verified"] for r in receiver.received)


def test_a_test_event_and_the_attempt_log(api: APIClient, receiver: SignedReceiver) -> None:
    endpoint = subscribe(api, receiver, events=["delivery.failed"])

    assert api.post(f"/api/v1/webhooks/{endpoint['id']}/test/").status_code == 202

    assert wait_for(lambda: receiver.accepted("webhook.test"), timeout=30)
    # The drain records a batch's answers once all of its posts are back, so after the receiver's 2xx.
    url = f"/api/v1/webhooks/{endpoint['id']}/attempts/"
    assert wait_for(lambda: api.get(url).json()["results"], timeout=30)
    attempts = api.get(url).json()["results"]
    assert [(a["type"], a["status_code"]) for a in attempts] == [("webhook.test", 200)]


def test_500s_then_200_keep_the_webhook_id(api: APIClient, receiver: SignedReceiver) -> None:
    subscribe(api, receiver, events=["delivery.sent"])
    receiver.answers = [500, 503]

    send_email()

    assert wait_for(lambda: receiver.accepted("delivery.sent"), timeout=30)
    ids = [r["id"] for r in receiver.received]
    assert len(ids) == 3
    assert len(set(ids)) == 1  # the same event, retried


def test_a_receiver_down_for_a_while_gets_everything_after(
    api: APIClient, receiver: SignedReceiver, fake_smtp: FakeSMTP
) -> None:
    subscribe(api, receiver, events=["delivery.sent"])
    receiver.stop()

    for n in range(5):
        send_email(f"Down{n}")
    assert wait_for(lambda: len(fake_smtp.messages) == 5, timeout=30)
    assert wait_for(lambda: WebhookMessage.objects.filter(attempts__gte=1).count() == 5, timeout=30)
    receiver.start()

    assert wait_for(lambda: len(receiver.accepted("delivery.sent")) == 5, timeout=60), list(
        WebhookMessage.objects.values_list("status", "attempts", "last_error")
    )
    # Recorded once the batch's posts are back, which is after the receiver answered.
    assert wait_for(lambda: WebhookMessage.objects.filter(status="sent").count() == 5, timeout=30)


def test_after_a_rotation_both_secrets_verify(api: APIClient, receiver: SignedReceiver) -> None:
    endpoint = subscribe(api, receiver, events=["delivery.sent"])
    old = receiver.secrets[0]
    new = api.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret/").json()["secret"]

    receiver.secrets = [old]  # a receiver not yet updated
    send_email("Old")
    assert wait_for(lambda: receiver.accepted("delivery.sent"), timeout=30)

    receiver.secrets = [new]  # and one that is
    send_email("New")
    assert wait_for(lambda: len(receiver.accepted("delivery.sent")) == 2, timeout=30)
    assert all(len(r["signature"].split(" ")) == 2 for r in receiver.received)


def test_410_gone_disables_the_endpoint(api: APIClient, receiver: SignedReceiver) -> None:
    endpoint = subscribe(api, receiver, events=["delivery.sent"])
    receiver.answers = [410]

    send_email()

    assert wait_for(
        lambda: WebhookEndpoint.objects.get(pk=endpoint["id"]).disabled_at is not None, timeout=30
    )
    read = api.get(f"/api/v1/webhooks/{endpoint['id']}/").json()
    assert read["enabled"] is False
    assert "410" in read["disabled_reason"]


def test_kill_9_with_events_in_flight_loses_none(
    api: APIClient, receiver: SignedReceiver, integration: CeleryWorker, fake_smtp: FakeSMTP
) -> None:
    subscribe(api, receiver, events=["delivery.sent"])
    receiver.delay = 0.2  # a slow receiver: the kill lands while the drain is posting
    for n in range(20):
        send_email(f"K{n}")
    assert wait_for(lambda: len(fake_smtp.messages) == 20, timeout=30)  # only webhook events in flight
    assert wait_for(lambda: len(receiver.received) >= 3, timeout=30)

    integration.kill(signal.SIGKILL)
    integration.ensure_running(purge=False)

    def all_in() -> bool:
        # What beat's webhooks-sweep does every NOTIFICATION_SWEEP_INTERVAL: a drain, unconditionally
        # (the killed worker's messages are claimed again once their claim is older than its timeout).
        current_app.send_task(dispatch.DRAIN_TASK, queue="default")
        return len(receiver.accepted("delivery.sent")) == 20

    assert wait_for(all_in, timeout=120, interval=1), (
        list(WebhookMessage.objects.values_list("status", "attempts")),
        list(Delivery.objects.values_list("channel", "status")),
        len(receiver.accepted("delivery.sent")),
    )


def test_a_failing_host_gets_a_probe_per_cool_down_and_holds_no_other_host_back(
    api: APIClient, receiver: SignedReceiver
) -> None:
    """Each receiving host has its circuit (CIRCUIT_FAILURE_THRESHOLD failures open it, a probe each
    CIRCUIT_RESET_TIMEOUT, 2 s for the test worker): a host answering 503 gets that many requests and the
    probes, not one per message and retry, and another host's messages go on meanwhile."""
    other = SignedReceiver(host="127.0.0.2").start()
    try:
        subscribe(api, receiver, events=["delivery.sent"])
        subscribe(api, other, events=["delivery.sent"])
        receiver.answers = [503] * 10_000
        started = time.monotonic()

        for n in range(20):
            send_email(f"Circuit{n}")

        assert wait_for(lambda: len(other.accepted("delivery.sent")) == 20, timeout=60)
        elapsed = time.monotonic() - started
        tried = len(receiver.received)
        # Opening takes the threshold's failures, plus what two drains had posted at once (a batch
        # each); then one probe per cool-down. Without the circuit every one of the 20 messages is
        # tried again each second (the test worker's retry schedule).
        bound = 5 + 2 * BATCH + math.ceil(elapsed / 2 + 1)
        assert 1 <= tried <= bound, (tried, bound, elapsed)
        receiver.answers = []
        assert wait_for(lambda: len(receiver.accepted("delivery.sent")) == 20, timeout=90)
    finally:
        other.stop()
