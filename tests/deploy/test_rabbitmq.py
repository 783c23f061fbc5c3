"""The same delivery flow with RabbitMQ as the Celery broker (an alternative to Redis, see
docs/operations.md): gunicorn and a worker on amqp://, orders in, messages out at the fakes."""

import os
from collections.abc import Callable

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.notifications.models import Delivery
from core.utils.net import port_open
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.slow]

AMQP_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def rabbit_stack(integration: CeleryWorker, stacks: Callable[..., Stack]) -> str:
    if not port_open("127.0.0.1", 5672):
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("RabbitMQ is required on 127.0.0.1:5672")
        pytest.skip("RabbitMQ is not running")
    # Redis keeps a database of its own for the drains' turns and wake flags: sharing the session
    # worker's, a drain of that worker (on the Redis broker) could serve this stack's wakes.
    return stacks(web=True, web_workers=2, CELERY_BROKER_URL=AMQP_URL).web_url


def test_orders_are_delivered_through_rabbitmq(
    rabbit_stack: str, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    _, key = api_key_create(name="rabbit")
    client = httpx.Client(base_url=rabbit_stack, headers={"Authorization": f"Api-Key {key}"}, timeout=10)
    customer = client.post(
        "/api/v1/customers/", json={"name": "Ada", "email": "ada@example.com", "telegram_chat_id": 31337}
    ).json()
    items = [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "9.99"}]
    orders = [
        client.post("/api/v1/orders/", json={"customer": customer["id"], "items": items}) for _ in range(5)
    ]

    assert [o.status_code for o in orders] == [201] * 5
    assert wait_for(lambda: Delivery.objects.filter(status="sent").count() == 10, timeout=60)
    numbers = {o.json()["number"] for o in orders}
    assert {str(m["Subject"]).rsplit(" ", 1)[-1] for m in fake_smtp.to("ada@example.com")} == numbers
    assert len(fake_telegram.texts(31337)) == 5
