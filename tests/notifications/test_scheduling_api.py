"""Scheduled sends and cancellation through the API, without a worker: what `send_at` accepts, how a
scheduled notification reads, and what cancelling does to what is still waiting."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.api_gateway.services import api_key_create
from apps.notifications.models import Delivery, Notification
from apps.webhooks.models import WebhookMessage
from tests.conftest import error_of

pytestmark = pytest.mark.django_db

SEND = "/api/v1/notifications/send/"
CANCEL_BY_KEY = "/api/v1/notifications/cancel/"


def cancel_url(notification_id: int) -> str:
    return f"/api/v1/notifications/{notification_id}/cancel/"


@pytest.fixture
def customer(make_customer: Any) -> dict[str, Any]:
    return dict(make_customer(name="Ada", email="ada@example.com"))


def later(seconds: float) -> str:
    return (timezone.now() + timedelta(seconds=seconds)).isoformat()


def send(api: APIClient, customer: dict[str, Any], **fields: Any) -> Any:
    return api.post(SEND, {"customer": customer["id"], "message": "Hi", **fields}, format="json")


def accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.json()
    return dict(response.json())


def test_a_scheduled_send_waits_in_the_outbox_until_its_time(
    api: APIClient, customer: dict[str, Any]
) -> None:
    moment = timezone.now() + timedelta(hours=2)

    response = send(api, customer, send_at=moment.isoformat(), cancellation_key="cart-17")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "scheduled"
    assert body["cancellation_key"] == "cart-17"
    assert body["send_at"] is not None
    [email] = [d for d in body["deliveries"] if d["channel"] == "email"]
    assert email["status"] == "queued"
    delivery = Delivery.objects.get(notification_id=body["id"], channel="email")
    assert delivery.next_attempt_at == moment
    assert delivery.send_at == moment
    assert api.get(f"/api/v1/notifications/status/{body['id']}/").json()["status"] == "scheduled"
    history = api.get("/api/v1/notifications/history/", {"status": "scheduled"}).json()
    assert [n["id"] for n in history["results"]] == [body["id"]]


def test_a_send_at_in_the_last_minute_means_now(api: APIClient, customer: dict[str, Any]) -> None:
    body = send(api, customer, send_at=later(-30)).json()

    assert body["status"] == "queued"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-13-01T09:00:00Z", "ISO 8601"),
        ("tomorrow at nine", "ISO 8601"),
        (1767258000, "ISO 8601"),
        ("2099-01-01T09:00:00", "time zone"),  # no zone: refused, not guessed
        ("2001-01-01T09:00:00Z", "past"),
    ],
)
def test_a_send_at_that_is_malformed_zoneless_or_past_is_400(
    api: APIClient, customer: dict[str, Any], value: Any, says: str
) -> None:
    response = send(api, customer, send_at=value)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert says in error["details"]["send_at"][0]
    assert not Notification.objects.exists()


def test_a_send_at_beyond_the_schedule_horizon_is_400(
    api: APIClient, customer: dict[str, Any], settings: Any
) -> None:
    settings.NOTIFICATION_SCHEDULE_MAX_DAYS = 30

    refused = send(api, customer, send_at=later(31 * 86400))
    accepted = send(api, customer, send_at=later(29 * 86400))

    assert refused.status_code == 400
    assert "30 days" in error_of(refused)["details"]["send_at"][0]
    assert accepted.status_code == 202


def test_a_broadcast_refuses_a_bad_send_at_before_queueing_anything(api: APIClient) -> None:
    response = api.post(
        "/api/v1/notifications/broadcast/", {"message": "Sale", "send_at": "2099-01-01 09:00"}, format="json"
    )

    assert response.status_code == 400
    assert "send_at" in error_of(response)["details"]


def test_a_cancellation_key_longer_than_200_characters_is_400(
    api: APIClient, customer: dict[str, Any]
) -> None:
    response = send(api, customer, cancellation_key="k" * 201)

    assert response.status_code == 400
    assert "cancellation_key" in error_of(response)["details"]


def test_cancelling_a_scheduled_notification_cancels_its_deliveries_and_fires_completed(
    api: APIClient, customer: dict[str, Any]
) -> None:
    made = api.post(
        "/api/v1/webhooks/",
        {"url": "https://shop.example/hooks", "events": ["notification.completed"]},
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = send(api, customer, send_at=later(3600)).json()

    response = api.post(cancel_url(body["id"]))

    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert {d["status"] for d in cancelled["deliveries"] if d["channel"] == "email"} == {"cancelled"}
    assert Delivery.objects.get(notification_id=body["id"], channel="email").next_attempt_at is None
    [completed] = WebhookMessage.objects.filter(type="notification.completed")
    assert completed.body["data"]["id"] == body["id"]
    assert completed.body["data"]["status"] == "cancelled"


def test_cancelling_what_has_nothing_left_is_409_and_changes_nothing(
    api: APIClient, customer: dict[str, Any]
) -> None:
    body = send(api, customer).json()
    Delivery.objects.filter(notification_id=body["id"]).exclude(status="skipped").update(status="sent")
    Notification.objects.filter(pk=body["id"]).update(status="sent")

    first = api.post(cancel_url(body["id"]))
    unknown = api.post(cancel_url(body["id"] + 1000))

    assert first.status_code == 409
    assert error_of(first)["code"] == "not_cancellable"
    assert Notification.objects.get(pk=body["id"]).status == "sent"
    assert unknown.status_code == 404


def test_a_delivery_being_sent_is_not_cancelled(api: APIClient, customer: dict[str, Any]) -> None:
    """A claimed delivery (`sending`) may be at the provider already: it goes out, and the answer is
    409 when nothing else waits."""
    body = send(api, customer).json()
    Delivery.objects.filter(notification_id=body["id"], channel="email").update(status="sending")

    response = api.post(cancel_url(body["id"]))

    assert response.status_code == 409
    assert Delivery.objects.get(notification_id=body["id"], channel="email").status == "sending"


def test_cancel_by_key_reaches_only_this_api_keys_notifications_with_that_key(
    api: APIClient, customer: dict[str, Any]
) -> None:
    mine = [
        accepted(send(api, customer, message=f"Reminder {n}", send_at=later(600), cancellation_key="cart-9"))
        for n in range(3)
    ]
    other_key_of_mine = send(
        api, customer, message="Other", send_at=later(600), cancellation_key="cart-10"
    ).json()
    _, plaintext = api_key_create(name="another integration")
    theirs_client = APIClient()
    theirs_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plaintext}")
    theirs = send(
        theirs_client, customer, message="Theirs", send_at=later(600), cancellation_key="cart-9"
    ).json()

    response = api.post(CANCEL_BY_KEY, {"cancellation_key": "cart-9"}, format="json")
    again = api.post(CANCEL_BY_KEY, {"cancellation_key": "cart-9"}, format="json")

    assert response.status_code == 200
    assert response.json() == {"cancelled": 3}
    assert again.json() == {"cancelled": 0}
    statuses = dict(Notification.objects.values_list("pk", "status"))
    assert [statuses[n["id"]] for n in mine] == ["cancelled"] * 3
    assert statuses[other_key_of_mine["id"]] == "scheduled"
    assert statuses[theirs["id"]] == "scheduled"


@pytest.mark.parametrize("body", [{}, {"cancellation_key": ""}, {"cancellation_key": 7}, {"key": "x"}])
def test_cancel_by_key_with_a_bad_body_is_400(api: APIClient, body: dict[str, Any]) -> None:
    response = api.post(CANCEL_BY_KEY, body, format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"


def test_a_cancelled_message_does_not_make_the_next_identical_one_a_duplicate(
    api: APIClient, customer: dict[str, Any]
) -> None:
    first = send(api, customer, message="Your cart misses you", send_at=later(600)).json()
    api.post(cancel_url(first["id"]))

    second = send(api, customer, message="Your cart misses you").json()

    [email] = [d for d in second["deliveries"] if d["channel"] == "email"]
    assert email["status"] == "queued"
