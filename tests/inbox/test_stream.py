"""The live stream (DESIGN 15) from a real uvicorn process, read by a real SSE client: events a real
worker publishes, replay after a reconnect, two stream processes, tokens, CORS, heartbeats, and the
table poll that carries events without Redis or when a publish was lost."""

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.inbox.bus import stream_processes
from apps.inbox.models import InboxEvent
from apps.inbox.services import InboxMessage, inbox_store
from apps.inbox.tokens import token_issue
from apps.notifications.models import Notification
from tests.fakes.processes import Process, stream_server
from tests.fakes.smtp import FakeSMTP
from tests.fakes.sse import SSEClient
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import wait_for, worker_env

ORIGIN = "https://shop.example"
STREAM_ENV = {
    "INBOX_HEARTBEAT_SECONDS": "0.5",
    "INBOX_POLL_SECONDS": "0.2",
    "INBOX_POLL_SECONDS_WITH_REDIS": "1",
    "INBOX_ALLOWED_ORIGINS": ORIGIN,
}


def start_stream(
    tmp: Path, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP, **env: str
) -> tuple[Process, str]:
    settings_env = worker_env(fake_telegram=fake_telegram, fake_smtp=fake_smtp, **{**STREAM_ENV, **env})
    return stream_server(env=settings_env, log_path=tmp / f"stream-{len(list(tmp.iterdir()))}.log")


@pytest.fixture(scope="module")
def streams(
    django_db_setup: None,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[list[str]]:
    """Two stream processes on the test database and Redis."""
    tmp = tmp_path_factory.mktemp("streams")
    started = [start_stream(tmp, fake_telegram, fake_smtp) for _ in range(2)]
    yield [url for _, url in started]
    for process, _ in started:
        process.stop()


@pytest.fixture
def clients() -> Iterator[list[SSEClient]]:
    opened: list[SSEClient] = []
    yield opened
    for client in opened:
        client.close()


def open_stream(clients: list[SSEClient], url: str, token: str, **headers: str) -> SSEClient:
    client = SSEClient(f"{url}/inbox/stream/?token={token}", headers=headers).open()
    clients.append(client)
    return client


def inbox_customer(**fields: Any) -> Customer:
    return Customer.objects.create(**{"name": "Ada", "channels": ["in_app"], **fields})


def store(customer: Customer, body: str, delivery_id: int) -> None:
    """An item stored (and published) as the in_app channel stores it."""
    notification = Notification.objects.create(customer=customer, event="custom", category="marketing")
    inbox_store([InboxMessage(delivery_id, notification.pk, customer.pk, "marketing", "S", body)])


def test_an_order_change_reaches_the_open_stream_through_the_worker(
    integration: Any, streams: list[str], clients: list[SSEClient], api: APIClient
) -> None:
    customer = inbox_customer()
    token = token_issue(customer.pk).token
    stream = open_stream(clients, streams[0], token)
    assert stream.status == 200
    assert stream.answer["content-type"].startswith("text/event-stream")
    assert stream.wait(lambda s: s.of("counts")), "the counts when the stream opens"
    assert stream.of("counts")[0].data == {"unseen": 0, "unread": 0}
    assert stream.of("counts")[0].id is None

    order = api.post(
        "/api/v1/orders/",
        {
            "customer": customer.pk,
            "items": [{"sku": "TEA", "name": "Tea", "quantity": 1, "unit_price": "3.00"}],
        },
        format="json",
    )
    assert order.status_code == 201, order.json()
    assert stream.wait(lambda s: s.of("notification") and len(s.of("counts")) >= 2, timeout=30)
    [event] = stream.of("notification")
    assert event.id is not None
    assert event.id.isdigit()
    assert order.json()["number"] in event.data["subject"]
    listed = api.get(f"/api/v1/customers/{customer.pk}/inbox/").json()["results"]
    assert listed == [event.data]
    assert stream.of("counts")[-1].data == {"unseen": 1, "unread": 1}

    assert api.post(
        f"/api/v1/customers/{customer.pk}/inbox/mark/", {"all": True, "as": "read"}, format="json"
    ).json() == {"updated": 1}
    assert stream.wait(lambda s: s.of("counts")[-1].data == {"unseen": 0, "unread": 0})
    assert stream.wait(lambda s: "heartbeat" in s.comments, timeout=5)


def test_a_reconnect_replays_what_it_missed_once_then_goes_live(
    transactional_db: None, streams: list[str], clients: list[SSEClient]
) -> None:
    customer = inbox_customer()
    token = token_issue(customer.pk).token
    first = open_stream(clients, streams[0], token)
    store(customer, "one", 1)
    store(customer, "two", 2)
    assert first.wait(lambda s: len(s.of("notification")) == 2)
    last_id = first.last_id()
    first.close()

    store(customer, "three", 3)
    store(customer, "four", 4)
    second = open_stream(clients, streams[1], token, **{"Last-Event-ID": str(last_id)})
    assert second.wait(lambda s: len(s.of("notification")) == 2 and s.of("counts"))
    store(customer, "five", 5)
    assert second.wait(lambda s: len(s.of("notification")) == 3)
    bodies = [e.data["body"] for e in first.of("notification") + second.of("notification")]
    assert bodies == ["one", "two", "three", "four", "five"]
    ids = [int(e.id) for e in first.events + second.events if e.id is not None]
    assert len(ids) == len(set(ids)), "no event twice"
    assert ids == sorted(ids), "in order"
    # The replay came first, then the counts of the moment, then live events.
    kinds = [e.event for e in second.events]
    assert kinds[:3] == ["notification", "notification", "counts"]

    # A Last-Event-ID naming a counts event replays the notifications after it.
    counts_id = InboxEvent.objects.filter(customer_id=customer.pk, kind="counts").order_by("id")[1].pk
    third = open_stream(clients, streams[0], token, **{"Last-Event-ID": str(counts_id)})
    assert third.wait(lambda s: s.of("counts"))
    assert [e.data["body"] for e in third.of("notification")] == ["three", "four", "five"]


def test_both_stream_processes_receive_an_event_one_worker_published(
    transactional_db: None, streams: list[str], clients: list[SSEClient]
) -> None:
    customer = inbox_customer()
    token = token_issue(customer.pk).token
    on_each = [open_stream(clients, url, token) for url in streams]
    for stream in on_each:
        assert stream.wait(lambda s: s.of("counts"))
    store(customer, "hello", 10)
    for stream in on_each:
        assert stream.wait(lambda s: s.of("notification"))
    assert on_each[0].of("notification")[0].id == on_each[1].of("notification")[0].id
    other = inbox_customer(name="Other")
    store(other, "not yours", 11)
    store(customer, "again", 12)
    for stream in on_each:
        assert stream.wait(lambda s: len(s.of("notification")) == 2)
        assert [e.data["body"] for e in stream.of("notification")] == ["hello", "again"]


def test_an_event_whose_publish_was_lost_arrives_through_the_poll(
    transactional_db: None, streams: list[str], clients: list[SSEClient]
) -> None:
    customer = inbox_customer()
    stream = open_stream(clients, streams[0], token_issue(customer.pk).token)
    assert stream.wait(lambda s: s.of("counts"))
    InboxEvent.objects.create(
        customer_id=customer.pk, kind="notification", data={"id": 1, "body": "unpublished"},
        created_at=datetime.now(UTC),
    )  # fmt: skip
    assert stream.wait(lambda s: s.of("notification"), timeout=10)
    assert stream.of("notification")[0].data["body"] == "unpublished"


def test_without_redis_the_stream_polls_the_table(
    transactional_db: None,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    tmp_path: Path,
    clients: list[SSEClient],
) -> None:
    process, url = start_stream(
        tmp_path, fake_telegram, fake_smtp, REDIS_URL="", CELERY_BROKER_URL="memory://"
    )
    try:
        customer = inbox_customer()
        stream = open_stream(clients, url, token_issue(customer.pk).token)
        assert stream.wait(lambda s: s.of("counts"))
        store(customer, "polled", 20)
        assert stream.wait(lambda s: s.of("notification"))
        assert stream.of("notification")[0].data["body"] == "polled"
    finally:
        for client in clients:
            client.close()
        process.stop()


@pytest.mark.parametrize("token", ["", "garbage", "expired"])
def test_a_missing_bad_or_expired_token_is_401(
    transactional_db: None, streams: list[str], token: str
) -> None:
    if token == "expired":
        token = token_issue(inbox_customer().pk, now=datetime.now(UTC) - timedelta(hours=2)).token
    answer = httpx.get(f"{streams[0]}/inbox/stream/", params={"token": token} if token else None)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "not_authenticated"


def test_a_bearer_token_cors_and_a_bad_last_event_id(
    transactional_db: None, streams: list[str], clients: list[SSEClient]
) -> None:
    token = token_issue(inbox_customer().pk).token
    bad = httpx.get(
        f"{streams[0]}/inbox/stream/", headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "x"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    preflight = httpx.options(
        f"{streams[0]}/inbox/stream/", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    stream = SSEClient(
        f"{streams[0]}/inbox/stream/", headers={"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    ).open()
    clients.append(stream)
    assert stream.status == 200
    assert stream.answer["access-control-allow-origin"] == ORIGIN
    foreign = SSEClient(
        f"{streams[0]}/inbox/stream/?token={token}", headers={"Origin": "https://evil.example"}
    ).open()
    clients.append(foreign)
    assert "access-control-allow-origin" not in foreign.answer


def test_the_stream_ends_when_its_token_expires(
    transactional_db: None, settings: Any, streams: list[str], clients: list[SSEClient]
) -> None:
    settings.INBOX_TOKEN_TTL = 2
    stream = open_stream(clients, streams[0], token_issue(inbox_customer().pk).token)
    assert stream.status == 200
    assert stream.ended.wait(10), "the server ended the stream"


def test_the_stream_process_serves_the_browser_api_and_the_demo(
    transactional_db: None, streams: list[str]
) -> None:
    customer = inbox_customer()
    store(customer, "via asgi", 30)
    token = token_issue(customer.pk).token
    listed = httpx.get(f"{streams[0]}/inbox/", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert listed.json()["results"][0]["body"] == "via asgi"
    demo = httpx.get(f"{streams[0]}/inbox/demo/", params={"token": token})
    assert demo.status_code == 200
    assert "inbox/demo.js" in demo.text


def test_health_counts_the_stream_processes_and_their_streams(
    transactional_db: None, streams: list[str], clients: list[SSEClient]
) -> None:
    token = token_issue(inbox_customer().pk).token
    for url in streams:
        assert open_stream(clients, url, token).wait(lambda s: s.of("counts"))

    def inbox_health() -> dict[str, Any]:
        return dict(APIClient().get("/health/").json()["checks"]["inbox"])

    # Each process reports every 10 s: wait for the reports made since these streams opened.
    assert wait_for(lambda: inbox_health().get("streams_open", 0) >= 2, timeout=40)
    health = inbox_health()
    assert health["transport"] == "redis"
    assert health["stream_processes"] >= 2
    assert health["unsubscribed"] == []


def test_a_stream_process_stopped_takes_its_report_out_of_the_list(
    transactional_db: None, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP, tmp_path: Path
) -> None:
    """A process stopped with SIGTERM leaves /health/'s list at once (before, one stopped early showed
    as unsubscribed for 30 s, its first report having gone out before its subscription ran)."""
    process, url = start_stream(tmp_path, fake_telegram, fake_smtp)
    stream = SSEClient(f"{url}/inbox/stream/?token={token_issue(inbox_customer().pk).token}").open()
    try:
        assert process.process is not None
        name = f"{socket.gethostname()}:{process.process.pid}"
        assert stream.wait(lambda s: s.of("counts"))  # the hub starts with the first stream
        assert wait_for(lambda: (stream_processes() or {}).get(name, {}).get("subscribed"), timeout=30)
    finally:
        stream.close()
        process.stop()

    assert name not in (stream_processes() or {})


def test_the_stream_process_counts_its_streams_and_events_in_metrics(
    transactional_db: None, streams: list[str], clients: list[SSEClient]
) -> None:
    customer = inbox_customer()
    stream = open_stream(clients, streams[1], token_issue(customer.pk).token)
    assert stream.wait(lambda s: s.of("counts"))
    store(customer, "counted", 40)
    assert stream.wait(lambda s: s.of("notification"))
    metrics = httpx.get(f"{streams[1]}/metrics/").text
    samples = dict(
        line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("inbox_") and " " in line
    )
    assert float(samples["inbox_streams_open"]) >= 1
    assert float(samples['inbox_events_streamed_total{kind="notification"}']) >= 1
