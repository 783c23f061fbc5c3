"""The notifications API without a worker: validation, planning of deliveries, status and history."""

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.notifications.models import Delivery, Notification
from tests.conftest import error_of, plan_order_events

pytestmark = pytest.mark.django_db

SEND = "/api/v1/notifications/send/"


@pytest.fixture
def customer(make_customer: Any) -> dict[str, Any]:
    return dict(make_customer(name="Ada", email="ada@example.com", telegram_chat_id=42))


def test_send_returns_202_with_planned_deliveries(api: APIClient, customer: dict[str, Any]) -> None:
    response = api.post(
        SEND, {"customer": customer["id"], "message": "Hi {{ customer.name }}"}, format="json"
    )

    assert response.status_code == 202
    body = response.json()
    assert body["event"] == "custom"
    assert body["status"] == "queued"
    deliveries = {d["channel"]: d for d in body["deliveries"]}
    # Telegram has no token in the test settings: skipped with that reason, email queued.
    assert deliveries["telegram"]["status"] == "skipped"
    assert deliveries["telegram"]["skip_reason"] == "channel not configured"
    assert deliveries["email"]["status"] == "queued"
    assert deliveries["email"]["attempts"] == 0


def test_skip_reasons_for_missing_contact_and_opt_out(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(email="e@example.com", phone="+49 30 1234567", channels=[])

    body = api.post(SEND, {"customer": customer["id"], "message": "x"}, format="json").json()

    reasons = {d["channel"]: d["skip_reason"] for d in body["deliveries"]}
    assert reasons == {"telegram": "no contact point", "email": "opted out"}
    assert body["status"] == "suppressed"


def test_failover_plans_only_the_first_reachable_channel(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(email="e@example.com", telegram_chat_id=7, channels=["email", "telegram"])

    body = api.post(
        SEND, {"customer": customer["id"], "message": "x", "strategy": "failover"}, format="json"
    ).json()

    assert [(d["channel"], d["status"]) for d in body["deliveries"]] == [("email", "queued")]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"message": None, "template": "nope"}, "template"), ({"customer": 999999}, "customer")],
)
def test_a_send_naming_what_does_not_exist_is_404(
    api: APIClient, customer: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {"customer": customer["id"], "message": "Hi", **change}.items() if v is not None}

    response = api.post(SEND, body, format="json")

    assert (response.status_code, error_of(response)["code"]) == (404, "not_found")
    assert list(error_of(response)["details"]) == [field]
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": None}, "non_field_errors"),
        ({"message": ""}, "message"),
        ({"template": "order_created"}, "non_field_errors"),
        ({"customer": "x"}, "customer"),
        ({"channels": ["sms"]}, "channels"),
        ({"channels": []}, "channels"),
        ({"strategy": "random"}, "strategy"),
        ({"priority": "urgent"}, "priority"),
        ({"context": [1, 2]}, "context"),
        ({"context": {"a": {"b": {"c": {"d": 1}}}}}, "context"),  # three levels at most
        ({"context": {"n": 1e19}}, "context"),  # a number beyond 64 bits
        ({"customer": True}, "customer"),
        ({"priority": 1}, "priority"),
        ({"colour": "red"}, "colour"),  # not a documented property
        ({"message": "{% debug %}"}, "message"),
        ({"subject": "{% if %}"}, "subject"),
    ],
)
def test_invalid_send_is_400(
    api: APIClient, customer: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {"customer": customer["id"], "message": "Hi", **change}.items() if v is not None}

    response = api.post(SEND, body, format="json")

    assert response.status_code == 400
    assert field in error_of(response)["details"], response.json()
    assert not Notification.objects.filter(event="custom").exists()


def test_send_by_template_key(api: APIClient, customer: dict[str, Any]) -> None:
    context = {"order": {"number": "ORD-1", "total": "1.00", "currency": "EUR", "items": []}}
    response = api.post(
        SEND, {"customer": customer["id"], "template": "order_shipped", "context": context}, format="json"
    )

    assert response.status_code == 202


def test_idempotency_key_is_scoped_to_the_api_key(
    api: APIClient, anon: APIClient, customer: dict[str, Any]
) -> None:
    from apps.api_gateway.services import api_key_create

    _, other = api_key_create(name="other")
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {other}")
    body = {"customer": customer["id"], "message": "Hi"}

    first = api.post(SEND, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    second = anon.post(SEND, body, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert first.status_code == 202
    assert second.status_code == 202
    assert first.json()["id"] != second.json()["id"]


@pytest.mark.parametrize("bad_id", ["999999", "abc", "-3"])
def test_status_of_unknown_notification_is_404(api: APIClient, bad_id: str) -> None:
    response = api.get(f"/api/v1/notifications/status/{bad_id}/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_history_is_newest_first_with_cursor_pages(api: APIClient, customer: dict[str, Any]) -> None:
    ids = [
        api.post(SEND, {"customer": customer["id"], "message": f"m{i}"}, format="json").json()["id"]
        for i in range(5)
    ]

    first = api.get("/api/v1/notifications/history/", {"page_size": 2}).json()
    second = api.get(first["next"]).json()

    assert set(first) == {"results", "next", "previous"}
    assert [n["id"] for n in first["results"]] == ids[::-1][:2]
    assert [n["id"] for n in second["results"]] == ids[::-1][2:4]


def test_history_filters(api: APIClient, customer: dict[str, Any], make_customer: Any) -> None:
    other = make_customer(email="o@example.com", channels=[])
    mine = api.post(SEND, {"customer": customer["id"], "message": "a"}, format="json").json()
    theirs = api.post(SEND, {"customer": other["id"], "message": "b"}, format="json").json()

    def ids(**params: Any) -> list[int]:
        response = api.get("/api/v1/notifications/history/", params)
        assert response.status_code == 200, response.json()
        return [n["id"] for n in response.json()["results"]]

    assert ids(customer=customer["id"]) == [mine["id"]]
    assert ids(status="suppressed") == [theirs["id"]]
    assert ids(status="queued", channel="email") == [mine["id"]]
    assert ids(created_after="2000-01-01T00:00:00Z", created_before="2100-01-01T00:00:00Z") == [
        theirs["id"],
        mine["id"],
    ]
    assert ids(created_after="2100-01-01T00:00:00Z") == []


@pytest.mark.parametrize("params", [{"status": "lost"}, {"created_after": "yesterday"}, {"customer": "x"}])
def test_history_bad_filter_is_400(api: APIClient, params: dict[str, str]) -> None:
    response = api.get("/api/v1/notifications/history/", params)
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"


def test_order_events_create_deduplicated_notifications(api: APIClient, make_order: Any) -> None:
    order = make_order()
    url = f"/api/v1/orders/{order['id']}/status/"
    api.put(url, {"status": "confirmed"}, format="json")
    api.put(url, {"status": "confirmed"}, format="json")
    plan_order_events()

    keys = sorted(str(k) for k in Notification.objects.values_list("dedup_key", flat=True))

    assert keys == [f"order:{order['id']}:confirmed", f"order:{order['id']}:pending"]
    detail = api.get(f"/api/v1/orders/{order['id']}/").json()
    assert [n["event"] for n in detail["notifications"]] == ["order_created", "order_status_changed"]


def test_the_notification_output_is_what_the_documented_serializer_says(
    api: APIClient, make_customer: Any
) -> None:
    from apps.notifications.output import NotificationOutputSerializer, notification_output
    from apps.notifications.selectors import notification_get

    customer = make_customer(telegram_chat_id=5)
    sent = api.post(
        SEND, {"customer": customer["id"], "message": "Hi", "channels": ["email", "telegram"]}, format="json"
    )
    stored = notification_get(sent.json()["id"])
    Delivery.objects.filter(notification=stored).update(sent_at=timezone.now(), attempts=2, last_error="x")
    stored = notification_get(stored.pk)

    assert notification_output(stored) == dict(NotificationOutputSerializer(stored).data)
    answered = sent.json()
    assert {k: v for k, v in answered.items() if k not in ("status", "deliveries")} == {
        k: v for k, v in notification_output(stored).items() if k not in ("status", "deliveries")
    }
