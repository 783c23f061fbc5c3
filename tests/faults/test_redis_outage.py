"""Redis (broker, cache, throttling) stopped in the middle of a burst of orders, with real gunicorn,
worker and beat processes on a private redis-server: the API keeps answering 2xx, and every order's
email arrives once Redis is back, brought back by the outbox sweep. The worker is started with the
plain command (`celery -A config worker -l info`) and outlives every outage."""

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.notifications.models import Delivery
from tests.fakes.processes import RedisServer
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.slow]

OUTAGE_SECONDS = 10


@pytest.fixture
def outage_stack(
    integration: CeleryWorker, stacks: Callable[..., Stack], tmp_path: Path
) -> Iterator[tuple[RedisServer, Stack]]:
    """gunicorn (two processes), a worker started with the plain command, and beat, on a private
    redis-server that the test stops and starts."""
    redis_server = RedisServer(tmp_path / "redis.log").start()
    stack: Stack | None = None
    try:
        stack = stacks(
            redis_url=f"{redis_server.url}/0",
            CELERY_BROKER_URL=f"{redis_server.url}/1",
            seed_command=True,
            web=True,
            web_workers=2,
            beat=True,
            NOTIFICATION_SWEEP_INTERVAL="1",
            NOTIFICATION_REENQUEUE_AFTER="2",
        )
        yield redis_server, stack
    finally:
        if stack is not None:
            stack.stop()  # while its Redis still runs (the stacks fixture's teardown comes after this)
        redis_server.stop()


def order_client(url: str) -> tuple[httpx.Client, dict[str, Any]]:
    """A client of the private stack's API, and an order body for a customer it has just created."""
    _, key = api_key_create(name="outage")
    client = httpx.Client(base_url=url, headers={"Authorization": f"Api-Key {key}"}, timeout=10)
    customer = client.post("/api/v1/customers/", json={"name": "Ada", "email": "ada@example.com"}).json()
    body = {
        "customer": customer["id"],
        "items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
    }
    return client, body


def test_redis_down_for_10_s_no_5xx_and_everything_arrives(
    outage_stack: tuple[RedisServer, Stack], fake_smtp: FakeSMTP
) -> None:
    redis_server, stack = outage_stack
    worker = stack.worker
    assert worker is not None
    client, body = order_client(stack.web_url)
    codes: Counter[int] = Counter()
    slowest = {"before": 0.0, "outage": 0.0, "after": 0.0}

    def post_order(phase: str) -> Any:
        started = time.monotonic()
        response = client.post("/api/v1/orders/", json=body)
        slowest[phase] = max(slowest[phase], time.monotonic() - started)
        codes[response.status_code] += 1
        return response

    for _ in range(20):
        post_order("before")
    redis_server.stop()
    outage_started = time.monotonic()
    while time.monotonic() - outage_started < OUTAGE_SECONDS:
        post_order("outage")
    health = client.get("/health/")
    redis_server.start()  # empty: whatever the broker held is gone
    for _ in range(20):
        post_order("after")
    orders = sum(codes.values())

    restarts = 0

    def drained() -> bool:
        # Like Docker's restart policy: kombu can give up on a broker that went away ("Unrecoverable
        # error") and the worker exits; a supervisor starts it again and the outbox does the rest.
        nonlocal restarts
        restarts += worker.ensure_running(purge=False)
        return Delivery.objects.filter(channel="email", status="sent").count() == orders

    assert wait_for(drained, timeout=120, interval=0.5), stack.logs()
    subjects = Counter(str(m["Subject"]) for m in fake_smtp.to("ada@example.com"))
    print(
        f"\nredis outage: {orders} orders, status codes {dict(codes)}, slowest request "
        f"{slowest['before']:.2f}/{slowest['outage']:.2f}/{slowest['after']:.2f} s before/during/after, "
        f"{len(subjects)} distinct emails, {sum(subjects.values()) - len(subjects)} duplicates, "
        f"{restarts} worker restarts"
    )
    assert codes == Counter({201: orders})
    assert health.status_code == 200
    assert len(subjects) == orders
    assert sum(subjects.values()) == orders  # no process died, so no duplicate either


def test_same_worker_delivers_after_each_of_three_20_s_outages(
    outage_stack: tuple[RedisServer, Stack], fake_smtp: FakeSMTP
) -> None:
    redis_server, stack = outage_stack
    worker = stack.worker
    assert worker is not None
    assert worker.process is not None
    pid = worker.process.pid
    client, body = order_client(stack.web_url)
    accepted = 0
    for outage in range(3):
        redis_server.stop()
        started = time.monotonic()
        while time.monotonic() - started < 20:
            assert client.post("/api/v1/orders/", json=body).status_code == 201
            accepted += 1
            time.sleep(0.5)
        redis_server.start()

        def delivered(expected: int = accepted) -> bool:
            return Delivery.objects.filter(channel="email", status="sent").count() >= expected

        assert wait_for(delivered, timeout=90, interval=0.5), f"outage {outage + 1}\n{stack.logs()}"
        assert worker.process.poll() is None, f"the worker exited in outage {outage + 1}\n{stack.logs()}"
        assert worker.process.pid == pid
    subjects = Counter(str(m["Subject"]) for m in fake_smtp.to("ada@example.com"))
    print(f"\nthree 20 s outages: {accepted} orders, all delivered by worker pid {pid}")
    assert len(subjects) == accepted
    assert "Unrecoverable error" not in (stack.directory / "worker.log").read_text(errors="replace")
