"""Email providers' tracking events (DESIGN section 13): posted as Postmark posts them to anymail's
webhook at /anymail/postmark/tracking/, stored by the view, applied to deliveries by a worker."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from apps.api_gateway.models import ApiKey
from apps.notifications.channels import channel_factory
from apps.notifications.models import Delivery, ProviderEvent, Suppression
from apps.notifications.outbox.pump import outbox_drain
from apps.notifications.tracking import provider_events_apply
from apps.webhooks.models import WebhookEndpoint, WebhookMessage
from tests.fakes.esp import TOKEN, FakePostmark, bounce_event, complaint_event, delivery_event
from tests.fakes.worker import CeleryWorker, wait_for

TRACKING = "/anymail/postmark/tracking/"
SECRET = "esp:secret"
SEND = "/api/v1/notifications/send/"


@pytest.fixture
def postmark(settings: Any, fake_esp: FakePostmark) -> Iterator[FakePostmark]:
    fake_esp.reset()
    settings.EMAIL_PROVIDERS = "main=postmark"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "POSTMARK_API_URL": fake_esp.url,
        "WEBHOOK_SECRET": SECRET,
    }
    channel_factory.reset()
    yield fake_esp
    channel_factory.reset()


def post(payload: Any, *, auth: str = SECRET, raw: bytes | None = None) -> Any:
    credentials = base64.b64encode(auth.encode()).decode()
    return Client().post(
        TRACKING,
        raw if raw is not None else json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )


def sent_delivery(api: APIClient, customer: dict[str, Any], **extra: Any) -> Delivery:
    body = {"customer": customer["id"], "message": "Hi", "channels": ["email"], **extra}
    notification = api.post(SEND, body, format="json").json()
    outbox_drain(channel="email")
    delivery = Delivery.objects.get(notification_id=notification["id"], channel="email")
    assert delivery.status == "sent"
    assert delivery.provider_message_id
    return delivery


def status_of(api: APIClient, delivery: Delivery) -> dict[str, Any]:
    notification = api.get(f"/api/v1/notifications/status/{delivery.notification_id}/").json()
    return dict(next(d for d in notification["deliveries"] if d["id"] == delivery.pk))


def test_a_delivery_event_makes_the_delivery_delivered(
    api: APIClient, make_customer: Any, postmark: Any
) -> None:
    delivery = sent_delivery(api, make_customer())

    assert post(delivery_event(delivery.provider_message_id)).status_code == 200
    assert provider_events_apply() == 1

    shown = status_of(api, delivery)
    assert shown["status"] == "delivered"
    assert shown["events"] == [
        {"type": "delivered", "at": "2026-12-05T10:00:02Z", "detail": "Test delivery webhook details"}
    ]
    notification = api.get(f"/api/v1/notifications/status/{delivery.notification_id}/").json()
    assert notification["status"] == "sent"  # delivered counts as sent


def test_a_hard_bounce_bounces_suppresses_and_fails_the_notification(
    api: APIClient, make_customer: Any, postmark: Any
) -> None:
    delivery = sent_delivery(api, make_customer(email="Lost@Example.com"))

    post(bounce_event(delivery.provider_message_id, "lost@example.com"))
    provider_events_apply()

    shown = status_of(api, delivery)
    assert shown["status"] == "bounced"
    assert shown["events"][0]["type"] == "bounced"
    assert api.get(f"/api/v1/notifications/status/{delivery.notification_id}/").json()["status"] == "failed"
    entry = Suppression.objects.get(channel="email", address="lost@example.com")
    assert (entry.reason, entry.delivery_id) == ("bounced", delivery.pk)


def test_a_soft_bounce_changes_nothing(api: APIClient, make_customer: Any, postmark: Any) -> None:
    delivery = sent_delivery(api, make_customer())

    post(bounce_event(delivery.provider_message_id, kind="SoftBounce"))
    provider_events_apply()

    assert status_of(api, delivery)["status"] == "sent"
    assert not Suppression.objects.exists()


def test_out_of_order_events_end_in_the_worse_state(
    api: APIClient, make_customer: Any, postmark: Any
) -> None:
    first = sent_delivery(api, make_customer(email="a@example.com"))
    second = sent_delivery(api, make_customer(email="b@example.com"))

    # The bounce arrives first for one, last for the other: both end bounced.
    post(bounce_event(first.provider_message_id, "a@example.com", event_id=1))
    post(delivery_event(first.provider_message_id, "a@example.com"))
    post(delivery_event(second.provider_message_id, "b@example.com"))
    provider_events_apply()
    post(bounce_event(second.provider_message_id, "b@example.com", event_id=2))
    provider_events_apply()

    assert status_of(api, first)["status"] == "bounced"
    assert status_of(api, second)["status"] == "bounced"
    assert [e["type"] for e in status_of(api, second)["events"]] == ["delivered", "bounced"]


def test_a_resent_event_is_stored_once(api: APIClient, make_customer: Any, postmark: Any) -> None:
    delivery = sent_delivery(api, make_customer())
    event = bounce_event(delivery.provider_message_id)

    assert [post(event).status_code for _ in range(3)] == [200, 200, 200]

    assert ProviderEvent.objects.count() == 1
    assert provider_events_apply() == 1
    assert provider_events_apply() == 0


def test_a_complaint_suppresses_leaves_the_status_and_reaches_webhooks(
    api: APIClient, make_customer: Any, postmark: Any, api_key: str
) -> None:
    WebhookEndpoint.objects.create(
        api_key=ApiKey.objects.get(),
        url="https://hooks.example/n",
        events=["delivery.complained", "delivery.bounced", "delivery.delivered"],
        secret="s" * 32,
    )
    delivery = sent_delivery(api, make_customer(email="spam@example.com"))

    post(complaint_event(delivery.provider_message_id, "spam@example.com"))
    provider_events_apply()

    assert status_of(api, delivery)["status"] == "sent"
    assert Suppression.objects.get(address="spam@example.com").reason == "complained"
    [message] = WebhookMessage.objects.filter(type="delivery.complained")
    body = message.body
    assert body["data"]["id"] == delivery.pk
    assert body["data"]["event"]["type"] == "complained"


def test_bounced_and_delivered_reach_webhook_subscribers(
    api: APIClient, make_customer: Any, postmark: Any, api_key: str
) -> None:
    WebhookEndpoint.objects.create(
        api_key=ApiKey.objects.get(),
        url="https://hooks.example/n",
        events=["delivery.bounced", "delivery.delivered"],
        secret="s" * 32,
    )
    delivered = sent_delivery(api, make_customer(email="d@example.com"))
    bounced = sent_delivery(api, make_customer(email="x@example.com"))

    post(delivery_event(delivered.provider_message_id, "d@example.com"))
    post(bounce_event(bounced.provider_message_id, "x@example.com"))
    provider_events_apply()

    types = {m.body["data"]["id"]: m.type for m in WebhookMessage.objects.all()}
    assert types == {delivered.pk: "delivery.delivered", bounced.pk: "delivery.bounced"}


def test_a_bounce_under_failover_moves_on_to_the_next_channel(
    api: APIClient, make_customer: Any, postmark: Any, settings: Any
) -> None:
    settings.TELEGRAM_BOT_TOKEN = "123:abc"
    channel_factory.reset()
    customer = make_customer(telegram_chat_id=77, channels=["email", "telegram"])
    delivery = sent_delivery(api, customer, channels=["email", "telegram"], strategy="failover")

    post(bounce_event(delivery.provider_message_id))
    provider_events_apply()

    statuses = dict(
        Delivery.objects.filter(notification_id=delivery.notification_id).values_list("channel", "status")
    )
    assert statuses == {"email": "bounced", "telegram": "queued"}
    assert api.get(f"/api/v1/notifications/status/{delivery.notification_id}/").json()["status"] == "queued"


def test_wrong_credentials_are_refused_and_change_nothing(
    api: APIClient, make_customer: Any, postmark: Any
) -> None:
    delivery = sent_delivery(api, make_customer())

    refused = post(bounce_event(delivery.provider_message_id), auth="esp:wrong")

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "bad_request"
    assert not ProviderEvent.objects.exists()


def test_without_a_webhook_secret_no_post_is_taken(settings: Any, db: None) -> None:
    settings.ANYMAIL = {}

    assert post(delivery_event("x")).status_code == 400
    assert not ProviderEvent.objects.exists()


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b""])
def test_an_unreadable_post_is_a_400_not_a_500(postmark: Any, db: None, raw: bytes) -> None:
    answer = post(None, raw=raw)

    assert answer.status_code == 400
    assert not ProviderEvent.objects.exists()


def test_an_event_for_a_message_never_sent_is_ignored_and_counted(
    postmark: Any, db: None, django_capture_on_commit_callbacks: Any
) -> None:
    labels = {"provider": "postmark", "type": "delivered", "result": "unmatched"}
    before = REGISTRY.get_sample_value("notifications_provider_events_total", labels) or 0

    assert post(delivery_event("00000000-0000-0000-0000-000000000000")).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        provider_events_apply()

    assert REGISTRY.get_sample_value("notifications_provider_events_total", labels) == before + 1
    assert ProviderEvent.objects.get().delivery_id is None


def test_an_unknown_record_type_is_taken_and_changes_nothing(
    api: APIClient, make_customer: Any, postmark: Any
) -> None:
    delivery = sent_delivery(api, make_customer())

    answer = post({"RecordType": "SomethingNew", "MessageID": delivery.provider_message_id})
    provider_events_apply()

    assert answer.status_code == 200
    assert status_of(api, delivery)["status"] == "sent"


def test_a_worker_applies_a_posted_event(
    integration: CeleryWorker, api: APIClient, make_customer: Any, settings: Any
) -> None:
    """Through the real worker: the SMTP provider's Message-ID is what the event names."""
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}
    notification = api.post(
        SEND, {"customer": make_customer()["id"], "message": "Hi", "channels": ["email"]}, format="json"
    ).json()
    sent = wait_for(
        lambda: Delivery.objects.filter(notification_id=notification["id"], status="sent").first(), timeout=30
    )
    assert sent is not None

    assert post(delivery_event(sent.provider_message_id)).status_code == 200

    assert wait_for(lambda: Delivery.objects.get(pk=sent.pk).status == "delivered", timeout=30)
    assert ProviderEvent.objects.get().applied_at is not None
