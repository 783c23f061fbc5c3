"""Webhook endpoints through the HTTP API: the secret shown once, another API key's endpoints are
404, unsafe URLs refused, rotation, re-enabling."""

import threading
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.api_gateway.services import api_key_create
from apps.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from tests.conftest import error_of, plan_order_events
from tests.fakes.webhook import SignedReceiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"
BODY = {"url": "https://hooks.example.com/hooks", "events": ["delivery.sent", "delivery.failed"]}


def other_client() -> APIClient:
    _, key = api_key_create(name="another shop tool")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_create_shows_the_secret_once(api: APIClient) -> None:
    created = api.post(URL, BODY, format="json")

    assert created.status_code == 201, created.json()
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["enabled"] is True
    assert endpoint["events"] == ["delivery.failed", "delivery.sent"]
    read = api.get(f"{URL}{endpoint['id']}/").json()
    assert "secret" not in read
    assert [e["id"] for e in api.get(URL).json()["results"]] == [endpoint["id"]]


def test_another_api_key_sees_none_of_them(api: APIClient) -> None:
    endpoint = api.post(URL, BODY, format="json").json()
    other = other_client()

    assert other.get(URL).json()["results"] == []
    for method in ("get", "patch", "delete"):
        response = getattr(other, method)(f"{URL}{endpoint['id']}/", {}, format="json")
        assert response.status_code == 404
    assert other.post(f"{URL}{endpoint['id']}/rotate-secret/").status_code == 404
    assert WebhookEndpoint.objects.filter(pk=endpoint["id"]).exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.0.0.8/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hooks",
        "http://93.184.216.34/hooks",
        "not a url",
    ],
)
def test_unsafe_urls_are_refused(api: APIClient, url: str) -> None:
    response = api.post(URL, {**BODY, "url": url}, format="json")

    assert response.status_code == 400
    assert "url" in error_of(response)["details"]
    assert not WebhookEndpoint.objects.exists()


def test_unknown_event_types_are_refused(api: APIClient) -> None:
    response = api.post(URL, {**BODY, "events": ["delivery.sent", "order.eaten"]}, format="json")

    assert response.status_code == 400
    assert "events" in error_of(response)["details"]


def test_rotation_gives_a_new_secret_and_keeps_the_old_one_for_a_day(api: APIClient) -> None:
    endpoint = api.post(URL, BODY, format="json").json()

    rotated = api.post(f"{URL}{endpoint['id']}/rotate-secret/").json()

    assert rotated["secret"] != endpoint["secret"]
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.previous_secret == endpoint["secret"]
    assert stored.previous_secret_until is not None


def test_change_disable_enable_and_delete(api: APIClient) -> None:
    endpoint = api.post(URL, BODY, format="json").json()
    url = f"{URL}{endpoint['id']}/"

    changed: dict[str, Any] = api.patch(url, {"events": ["notification.completed"]}, format="json").json()
    assert changed["events"] == ["notification.completed"]
    assert api.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
    assert api.patch(url, {"enabled": True}, format="json").json()["enabled"] is True
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


def test_events_are_written_with_the_change_that_causes_them(
    api: APIClient, make_order: Any, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    api.post(URL, {"url": "http://127.0.0.1:9/hooks", "events": ["delivery.skipped"]}, format="json")
    order = make_order()

    for status in ("confirmed", "processing"):  # no worker here: "confirmed" is still waiting
        api.put(f"/api/v1/orders/{order['id']}/status/", {"status": status}, format="json")
        plan_order_events()

    skipped = [m.body["data"] for m in WebhookMessage.objects.filter(type="delivery.skipped")]
    superseded = [d for d in skipped if d["skip_reason"] == "superseded"]
    assert [(d["order"], d["channel"]) for d in superseded] == [(order["id"], "email")]  # "confirmed"
    assert all(m.body["id"] == m.message_id for m in WebhookMessage.objects.all())


def test_an_endpoint_failing_longer_than_the_limit_is_disabled_when_an_event_runs_out_of_tries(
    api: APIClient, settings: Any, receiver: SignedReceiver
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from apps.webhooks.outbox import message_send

    receiver.answers = [500, 500]
    created = api.post(URL, {"url": receiver.url, "events": ["delivery.sent"]}, format="json").json()
    endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    endpoint.failing_since = timezone.now() - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER + 1)
    endpoint.save()
    tries = len(settings.WEBHOOK_RETRY_SCHEDULE)
    message = WebhookMessage.objects.create(
        endpoint=endpoint, message_id="msg_last", type="delivery.sent", body={"id": "msg_last"},
        attempts=tries, next_attempt_at=timezone.now(),
    )  # fmt: skip

    assert message_send(WebhookMessage.objects.select_related("endpoint").get(pk=message.pk)) is False

    message.refresh_from_db()
    assert message.status == "failed"
    read = api.get(f"{URL}{endpoint.pk}/").json()
    assert read["enabled"] is False
    assert "failed" in read["disabled_reason"]
    [attempt] = api.get(f"{URL}{endpoint.pk}/attempts/").json()["results"]
    assert (attempt["event_id"], attempt["status_code"]) == ("msg_last", 500)


def test_a_batch_is_posted_at_once_so_a_slow_receiver_holds_one_thread_per_message(
    api: APIClient, settings: Any, receiver: SignedReceiver
) -> None:
    from django.utils import timezone

    from apps.webhooks.outbox import BATCH, messages_claim, messages_send

    settings.WEBHOOK_TIMEOUT = 60.0  # the batch's one deadline; a batch posted in turn never gets there
    receiver.barrier = threading.Barrier(BATCH, timeout=30)  # every post answered once all are in
    created = api.post(URL, {"url": receiver.url, "events": ["delivery.sent"]}, format="json").json()
    receiver.secrets = [created["secret"]]
    for n in range(BATCH):
        WebhookMessage.objects.create(
            endpoint_id=created["id"], message_id=f"msg_{n}", type="delivery.sent",
            body={"id": f"msg_{n}", "type": "delivery.sent", "data": {}}, next_attempt_at=timezone.now(),
        )  # fmt: skip

    assert messages_send(messages_claim()) == BATCH

    assert len(receiver.accepted()) == BATCH
    assert receiver.most_in_flight == BATCH  # all at once: posted in turn, the first would wait alone
    assert set(WebhookMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert WebhookAttempt.objects.count() == BATCH
