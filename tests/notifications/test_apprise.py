"""The Apprise channel through the same factory, and operator alerts about failed deliveries routed to
it: a real worker, a real SMTP refusal, and Apprise posting to a local JSON endpoint."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.notifications.channels import OutgoingMessage, PermanentError, TransientError, channel_factory
from apps.notifications.models import Delivery
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.webhook import FakeWebhook
from tests.fakes.worker import wait_for

CHANNELS = {
    "telegram": "apps.notifications.channels.telegram.TelegramChannel",
    "email": "apps.notifications.channels.email.EmailChannel",
    "apprise": "apps.notifications.channels.apprise.AppriseChannel",
}


@pytest.fixture
def sink() -> Iterator[FakeWebhook]:
    server = FakeWebhook()
    yield server
    server.stop()


@pytest.fixture
def apprise_channel(settings: Any, sink: FakeWebhook) -> Iterator[Any]:
    settings.NOTIFICATION_CHANNELS = CHANNELS
    settings.APPRISE_URLS = [sink.apprise_url()]
    channel_factory.reset()
    yield channel_factory.get("apprise")
    channel_factory.reset()


def test_the_factory_builds_it_and_it_posts_title_and_body(apprise_channel: Any, sink: FakeWebhook) -> None:
    apprise_channel.send(OutgoingMessage(address="", subject="Disk full", body="x", body_plain="/var at 99%"))

    [posted] = sink.received
    assert (posted["title"], posted["message"]) == ("Disk full", "/var at 99%")


def test_a_failing_target_is_a_transient_error(apprise_channel: Any, sink: FakeWebhook) -> None:
    sink.status = 503
    with pytest.raises(TransientError):
        apprise_channel.send(OutgoingMessage(address="", subject="s", body="b", body_plain="b"))


def test_a_url_apprise_cannot_use_is_a_permanent_error(settings: Any, apprise_channel: Any) -> None:
    settings.APPRISE_URLS = ["nosuchservice://whatever"]
    with pytest.raises(PermanentError):
        apprise_channel.send(OutgoingMessage(address="", subject="s", body="b", body_plain="b"))


@pytest.mark.django_db
def test_customers_are_never_planned_on_an_operator_channel(apprise_channel: Any, api: Any) -> None:
    customer = api.post("/api/v1/customers/", {"name": "Ada", "email": "ada@example.com"}, format="json")
    response = api.post(
        "/api/v1/notifications/send/", {"customer": customer.json()["id"], "message": "Hi"}, format="json"
    )

    assert {d["channel"] for d in response.json()["deliveries"]} == {"email", "telegram"}


@pytest.fixture
def alerting_stack(stacks: Callable[..., Stack], fake_smtp: FakeSMTP, sink: FakeWebhook) -> str:
    """gunicorn and a worker with Apprise alerts on, on a broker database of their own (the session
    worker, configured without alerts, must not take these tasks)."""
    stack = stacks(
        web=True,
        NOTIFICATION_CHANNELS=",".join(f"{k}={v}" for k, v in CHANNELS.items()),
        APPRISE_URLS=sink.apprise_url("ops"),
        OPS_ALERT_CHANNEL="apprise",
        NOTIFICATION_MAX_ATTEMPTS="2",
    )
    fake_smtp.reset()
    return stack.web_url


@pytest.mark.slow
def test_failed_deliveries_alert_operators_once_per_error_kind(
    alerting_stack: str, fake_smtp: FakeSMTP, sink: FakeWebhook
) -> None:
    _, key = api_key_create(name="alerts")
    client = httpx.Client(base_url=alerting_stack, headers={"Authorization": f"Api-Key {key}"}, timeout=10)
    fake_smtp.answer("RCPT", "550 5.1.1 No such user", times=3)
    for n in range(3):
        customer = client.post("/api/v1/customers/", json={"name": "Ada", "email": f"gone{n}@example.com"})
        sent = client.post(
            "/api/v1/notifications/send/", json={"customer": customer.json()["id"], "message": "Hi"}
        )
        assert sent.status_code == 202

    assert wait_for(lambda: Delivery.objects.filter(status="failed").count() == 3, timeout=30)
    assert wait_for(lambda: sink.received, timeout=30)
    [alert] = sink.received  # three failures of one kind: one alert
    assert alert["path"] == "/ops"
    assert alert["title"] == "Delivery failed on email: smtp_550"
    assert "No such user" in alert["message"]
