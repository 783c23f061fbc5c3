"""Email providers (DESIGN section 13): an ESP through anymail (a fake Postmark API on loopback), the
failover between providers, and the suppression list, drained in this process over real sockets."""

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.notifications.channels import channel_factory
from apps.notifications.models import Delivery, Suppression
from apps.notifications.outbox.pump import outbox_drain
from core.utils.redis import get_redis
from tests.fakes.esp import TOKEN, FakePostmark
from tests.fakes.processes import free_port
from tests.fakes.smtp import FakeSMTP, Reply
from tests.fakes.worker import wait_for

SEND = "/api/v1/notifications/send/"


@pytest.fixture
def providers(settings: Any, fake_esp: FakePostmark, fake_smtp: FakeSMTP) -> Iterator[Any]:
    """Set EMAIL_PROVIDERS (SMTP is the fake sink, `postmark` the fake ESP) with fresh circuits."""
    fake_esp.reset()
    fake_smtp.reset()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", fake_smtp.port
    settings.EMAIL_CONNECTIONS = 1
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": TOKEN,
        "POSTMARK_API_URL": fake_esp.url,
        "REQUESTS_TIMEOUT": (2.0, 2.0),
        "WEBHOOK_SECRET": "esp:secret",
    }
    client = get_redis()
    assert client is not None

    def use(value: str) -> None:
        for key in client.scan_iter("circuit:email*"):
            client.delete(key)
        settings.EMAIL_PROVIDERS = value
        channel_factory.reset()

    yield use
    channel_factory.reset()


def send(api: APIClient, customer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"customer": customer["id"], "message": "Hi", "channels": ["email"], **extra}
    response = api.post(SEND, body, format="json")
    assert response.status_code == 202, response.json()
    return dict(response.json())


def status(api: APIClient, notification: dict[str, Any]) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/notifications/status/{notification['id']}/").json())


def test_an_esp_takes_the_message_and_its_message_id_is_the_deliverys(
    api: APIClient, make_customer: Any, providers: Any, fake_esp: FakePostmark
) -> None:
    providers("main=postmark")
    notification = send(api, make_customer(email="Ada@Example.com"))

    outbox_drain(channel="email")

    [message] = fake_esp.messages
    assert message["To"] == "Ada@Example.com"
    assert message["TextBody"].strip() == "Hi"
    delivery = status(api, notification)["deliveries"][0]
    assert delivery["status"] == "sent"
    assert delivery["provider"] == "main"
    assert delivery["provider_message_id"] == message["MessageID"]
    assert [(a["provider"], a["outcome"]) for a in delivery["attempt_log"]] == [("main", "sent")]


def test_an_inactive_recipient_fails_is_suppressed_and_is_not_tried_again_until_taken_off(
    api: APIClient, make_customer: Any, providers: Any, fake_esp: FakePostmark
) -> None:
    providers("main=postmark,backup=smtp")
    customer = make_customer(email="Gone@Example.com")
    fake_esp.inactive.add("gone@example.com")
    first = send(api, customer)
    outbox_drain(channel="email")

    delivery = status(api, first)["deliveries"][0]
    assert delivery["status"] == "failed"
    assert delivery["last_error"].startswith("esp_rejected")
    assert [a["provider"] for a in delivery["attempt_log"]] == ["main"]  # never moved on to the backup
    [entry] = api.get("/api/v1/suppressions/", {"address": "GONE@example.com"}).json()["results"]
    assert (entry["channel"], entry["address"], entry["reason"]) == ("email", "gone@example.com", "bounced")
    assert entry["delivery"] == delivery["id"]

    calls = fake_esp.calls
    second = send(api, customer)
    outbox_drain(channel="email")
    skipped = status(api, second)["deliveries"][0]
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped", "suppressed")
    assert fake_esp.calls == calls  # no provider call

    assert api.delete(f"/api/v1/suppressions/{entry['id']}/").status_code == 204
    fake_esp.inactive.clear()
    third = send(api, customer)
    outbox_drain(channel="email")
    assert status(api, third)["deliveries"][0]["status"] == "sent"
    assert fake_esp.recipients() == ["Gone@Example.com"]


def test_an_smtp_refusal_of_a_bad_address_suppresses_it(
    api: APIClient, make_customer: Any, providers: Any, fake_smtp: FakeSMTP
) -> None:
    providers("main=smtp")
    fake_smtp.replies.append(
        Reply("RCPT", "550 5.1.1 <nobody@example.com>: Recipient address rejected", 1, "nobody@example.com")
    )
    notification = send(api, make_customer(email="nobody@example.com"))
    outbox_drain(channel="email")

    assert status(api, notification)["deliveries"][0]["status"] == "failed"
    assert Suppression.objects.filter(
        channel="email", address="nobody@example.com", reason="bounced"
    ).exists()


def test_a_mailbox_full_refusal_does_not_suppress(
    api: APIClient, make_customer: Any, providers: Any, fake_smtp: FakeSMTP
) -> None:
    providers("main=smtp")
    fake_smtp.replies.append(Reply("RCPT", "552 5.2.2 Mailbox full", 1, "full@example.com"))
    notification = send(api, make_customer(email="full@example.com"))
    outbox_drain(channel="email")

    assert status(api, notification)["deliveries"][0]["status"] == "failed"
    assert not Suppression.objects.exists()


def test_with_the_sink_down_messages_move_on_to_the_backup_and_the_primary_circuit_opens(
    api: APIClient, make_customer: Any, providers: Any, settings: Any, fake_esp: FakePostmark
) -> None:
    providers("primary=smtp,backup=postmark")
    settings.EMAIL_PORT = free_port()  # nothing listens: the primary refuses every connection
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_RESET_TIMEOUT = 600
    customers = [make_customer(email=f"c{n}@example.com") for n in range(8)]
    notifications = [send(api, c) for c in customers]

    outbox_drain(channel="email")

    assert sorted(fake_esp.recipients()) == sorted(f"c{n}@example.com" for n in range(8))  # each once
    logs = [status(api, n)["deliveries"][0] for n in notifications]
    assert {d["status"] for d in logs} == {"sent"}
    assert {d["provider"] for d in logs} == {"backup"}
    first = logs[0]["attempt_log"]
    assert [(a["provider"], a["outcome"]) for a in first] == [
        ("primary", "transient_error"),
        ("backup", "sent"),
    ]
    assert first[0]["error"].startswith("smtp_connection")
    # After three refused connections the primary's circuit is open: the rest go straight to the backup.
    tried_primary = sum(any(a["provider"] == "primary" for a in d["attempt_log"]) for d in logs)
    assert tried_primary == 3
    health = api.get("/health/").json()["checks"]["channels"]
    assert health["email:primary"]["circuit"] == "open"
    assert health["email:backup"] == {"configured": True, "circuit": "closed", "provider": "postmark"}
    assert health["email"]["circuit"] == "closed"  # the channel as a whole still sends


@pytest.mark.parametrize("answer", [500, 503, 429])
def test_an_esp_error_status_moves_the_message_on(
    api: APIClient,
    make_customer: Any,
    providers: Any,
    fake_esp: FakePostmark,
    fake_smtp: FakeSMTP,
    answer: int,
) -> None:
    providers("primary=postmark,backup=smtp")
    fake_esp.status = answer
    notification = send(api, make_customer(email="next@example.com"))
    outbox_drain(channel="email")

    delivery = status(api, notification)["deliveries"][0]
    assert (delivery["status"], delivery["provider"]) == ("sent", "backup")
    assert delivery["attempt_log"][0]["error"].startswith(f"esp_{answer}")
    assert [str(m["To"]) for m in fake_smtp.messages] == ["next@example.com"]


def test_an_esp_that_answers_too_late_is_in_doubt_and_is_retried_not_moved_on(
    api: APIClient,
    make_customer: Any,
    providers: Any,
    settings: Any,
    fake_esp: FakePostmark,
    fake_smtp: FakeSMTP,
) -> None:
    providers("primary=postmark,backup=smtp")
    settings.ANYMAIL = settings.ANYMAIL | {"REQUESTS_TIMEOUT": (2.0, 0.3)}
    channel_factory.reset()
    fake_esp.delay = 1.0  # the ESP has the request (it may send it) but answers after the read timeout
    notification = send(api, make_customer(email="doubt@example.com"))
    outbox_drain(channel="email")

    delivery = status(api, notification)["deliveries"][0]
    assert delivery["status"] == "retrying"
    assert delivery["last_error"].startswith("esp_timeout")
    assert [a["provider"] for a in delivery["attempt_log"]] == ["primary"]
    assert fake_smtp.messages == []  # not sent a second time through the backup
    # The ESP did take it, after the client had stopped waiting (the answer that came too late).
    assert wait_for(lambda: fake_esp.recipients() == ["doubt@example.com"], timeout=10)


def test_the_suppression_api(api: APIClient) -> None:
    created = api.post(
        "/api/v1/suppressions/", {"channel": "email", "address": "Someone@Example.com"}, format="json"
    )
    assert created.status_code == 201
    assert created.json() | {"id": 0, "created_at": ""} == {
        "id": 0,
        "channel": "email",
        "address": "someone@example.com",
        "reason": "manual",
        "created_at": "",
        "delivery": None,
    }
    again = api.post(
        "/api/v1/suppressions/", {"channel": "email", "address": "someone@example.com"}, format="json"
    )
    assert (again.status_code, again.json()["id"]) == (200, created.json()["id"])

    for body, field in [
        ({"channel": "email", "address": "not an address"}, "address"),
        ({"channel": "fax", "address": "1"}, "channel"),
        ({"channel": "email", "address": "a@example.com", "reason": "bounced"}, "reason"),
        ({"channel": "telegram"}, "address"),
    ]:
        refused = api.post("/api/v1/suppressions/", body, format="json")
        assert refused.status_code == 400, body
        assert field in refused.json()["error"]["details"], body

    assert api.get("/api/v1/suppressions/", {"channel": "telegram"}).json()["results"] == []
    assert api.get("/api/v1/suppressions/", {"channel": ""}).status_code == 400
    assert api.delete("/api/v1/suppressions/999999/").status_code == 404
    assert api.delete("/api/v1/suppressions/abc/").status_code == 404
    assert api.delete(f"/api/v1/suppressions/{created.json()['id']}/").status_code == 204
    assert not Suppression.objects.exists()


def test_the_suppression_list_needs_its_scope(db: None) -> None:
    from apps.api_gateway.services import api_key_create

    _, key = api_key_create(name="reader", scopes=["notifications:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    refused = client.get("/api/v1/suppressions/")

    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["required"] == "suppressions:manage"


def test_a_suppressed_delivery_is_not_claimed_twice(
    api: APIClient, make_customer: Any, providers: Any, fake_esp: FakePostmark
) -> None:
    """Deleting the customer's address from the list after the skip changes nothing already decided."""
    providers("main=postmark")
    customer = make_customer(email="x@example.com")
    api.post("/api/v1/suppressions/", {"channel": "email", "address": "X@example.com"}, format="json")
    notification = send(api, customer)
    outbox_drain(channel="email")
    Suppression.objects.all().delete()
    outbox_drain(channel="email")

    assert Delivery.objects.get(notification_id=notification["id"]).status == "skipped"
    assert fake_esp.calls == 0
