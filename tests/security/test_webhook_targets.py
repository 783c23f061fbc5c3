"""Webhook URLs against server-side request forgery: the send connects to the very address that was
checked (a DNS server answering differently the second time gains nothing), shared and relay
addresses are refused, a receiver dripping its answer is cut at one overall deadline, proxies from
the environment are not used, and errors name no internal address."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.webhooks import safety
from apps.webhooks.models import MessageStatus, WebhookAttempt, WebhookMessage
from apps.webhooks.outbox import message_send
from tests.conftest import error_of
from tests.fakes.processes import free_port
from tests.fakes.webhook import DrippingReceiver, SignedReceiver

pytestmark = pytest.mark.django_db

HOST = "hooks.example.test"  # resolves nowhere but through the seam below


class Dns:
    """The resolver seam answering `answers` in turn (the last one again and again)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, host: str, port: int, **_: Any) -> list[Any]:
        assert host == HOST
        address = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


@pytest.fixture
def receiver() -> Iterator[SignedReceiver]:
    server = SignedReceiver().start()
    yield server
    server.stop()


def test_message(api: APIClient, url: str) -> WebhookMessage:
    created = api.post("/api/v1/webhooks/", {"url": url, "events": ["delivery.sent"]}, format="json")
    assert created.status_code == 201, created.json()
    assert api.post(f"/api/v1/webhooks/{created.json()['id']}/test/").status_code == 202
    return WebhookMessage.objects.select_related("endpoint").get(type="webhook.test")


test_message.__test__ = False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT (a cloud metadata service lives there)
        "192.88.99.1",  # the 6to4 relay anycast
        "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
        "::ffff:169.254.169.254",  # IPv4-mapped link-local
    ],
)
def test_shared_relay_and_wrapped_addresses_are_refused_without_naming_them(
    api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(
        safety, "resolve", lambda *a, **k: [(family, socket.SOCK_STREAM, 6, "", (address, 443))]
    )

    response = api.post(
        "/api/v1/webhooks/", {"url": f"https://{HOST}/hooks", "events": ["delivery.sent"]}, format="json"
    )

    assert response.status_code == 400
    assert "not publicly routable" in str(error_of(response)["details"])
    assert address not in str(response.json())


def test_a_name_that_rebinds_to_a_private_address_after_the_save_is_refused_at_send(
    api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch, receiver: SignedReceiver
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS, settings.DEBUG = False, True  # http allowed, addresses checked
    monkeypatch.setattr(safety, "resolve", Dns("93.184.216.34", "10.0.0.5"))
    message = test_message(api, f"http://{HOST}:{receiver.port}/hooks")

    assert message_send(message) is False

    [attempt] = WebhookAttempt.objects.all()
    assert attempt.error.startswith("refused: ")
    assert "10.0.0.5" not in attempt.error
    assert receiver.received == []


def test_the_send_connects_to_the_checked_address_with_the_name_in_host(
    api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch, receiver: SignedReceiver
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS, settings.DEBUG = False, True
    # In this test loopback counts as public; the name itself resolves nowhere outside the seam, so a
    # second look-up by the HTTP client could not reach the receiver.
    monkeypatch.setattr(safety, "address_refused", lambda address: str(address) != "127.0.0.1")
    dns = Dns("127.0.0.1")
    monkeypatch.setattr(safety, "resolve", dns)
    message = test_message(api, f"http://{HOST}:{receiver.port}/hooks")
    asked_at_save = dns.asked

    assert message_send(message) is True

    assert dns.asked == asked_at_save + 1  # checked again right before the send, once
    [request] = receiver.received
    assert request["host"] == f"{HOST}:{receiver.port}"


@pytest.mark.timeout(30)
def test_a_receiver_dripping_its_answer_is_cut_at_the_deadline_and_counts_an_attempt(
    api: APIClient, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS, settings.WEBHOOK_TIMEOUT = True, 1.0
    dripping = DrippingReceiver(every=0.2)
    try:
        message = test_message(api, dripping.url)

        assert message_send(message) is False
    finally:
        dripping.stop()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    assert message.last_error == "ReadTimeout: no complete answer within 1.0 s"


def test_proxies_from_the_environment_are_not_used(
    api: APIClient, settings: Any, monkeypatch: pytest.MonkeyPatch, receiver: SignedReceiver
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    message = test_message(api, receiver.url)

    assert message_send(message) is True
    assert len(receiver.received) == 1


def test_a_connection_error_names_no_address(api: APIClient, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    message = test_message(api, f"http://127.0.0.1:{free_port()}/hooks")

    assert message_send(message) is False

    message.refresh_from_db()
    assert message.last_error == "ConnectError: the receiver could not be reached"
    assert "127.0.0.1" not in WebhookAttempt.objects.get().error


def test_a_claim_whose_drain_died_counts_an_attempt_and_ends_failed_at_the_limit(
    api: APIClient, settings: Any, receiver: SignedReceiver
) -> None:
    """A drain held by a dripping receiver and then killed leaves its claim behind: each expired claim
    is one attempt (the receiver may have had it), so the message cannot be re-claimed for ever."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.webhooks.outbox import messages_reclaim_expired

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS, settings.WEBHOOK_RETRY_SCHEDULE = True, [1]  # two tries in all
    message = test_message(api, receiver.url)
    for expected in (1, 2):
        WebhookMessage.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENDING, lease_until=timezone.now() - timedelta(seconds=1)
        )

        assert messages_reclaim_expired() == 1

        message.refresh_from_db()
        assert message.attempts == expected
    assert message.status == MessageStatus.FAILED
    assert WebhookAttempt.objects.filter(message=message, error__startswith="worker_lost").count() == 2


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    api: APIClient, settings: Any, receiver: SignedReceiver
) -> None:
    """A receiver cannot send the signed request on to an address the check never saw."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    elsewhere = SignedReceiver().start()
    try:
        receiver.answers, receiver.location = [307], elsewhere.url
        message = test_message(api, receiver.url)

        assert message_send(message) is False
    finally:
        elsewhere.stop()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    assert WebhookAttempt.objects.get(message=message).status_code == 307
    assert elsewhere.received == []


def test_the_previous_secret_signs_for_a_day_after_a_rotation_and_then_no_more(
    api: APIClient, settings: Any, receiver: SignedReceiver
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from apps.webhooks.models import WebhookEndpoint

    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    created = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["delivery.sent"]}, format="json")
    endpoint = created.json()
    receiver.secrets = [endpoint["secret"]]  # a receiver that has not taken the new secret yet
    api.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret/")
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.previous_secret_until is not None
    assert timedelta(hours=23) < stored.previous_secret_until - timezone.now() <= timedelta(hours=24)

    def send_test_event() -> None:
        assert api.post(f"/api/v1/webhooks/{endpoint['id']}/test/").status_code == 202
        message = WebhookMessage.objects.select_related("endpoint").filter(status=MessageStatus.PENDING).get()
        message_send(message)

    send_test_event()  # within the day: signed with both secrets
    WebhookEndpoint.objects.filter(pk=stored.pk).update(
        previous_secret_until=timezone.now() - timedelta(seconds=1)
    )
    send_test_event()  # after it: the new secret only

    assert [r["verified"] for r in receiver.received] == [True, False]
