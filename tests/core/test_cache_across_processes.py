"""The cache seen from two processes: a gunicorn worker renders and reads while this test process
changes a template and a customer, as the admin would, and the other way round (a template changed
through the API of the gunicorn worker, rendered here). The gunicorn worker keeps templates in memory
under a version kept in Redis, and customers in Redis; both must answer with the change at once."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.customers.models import Customer
from apps.notifications.models import Delivery, NotificationTemplate
from apps.notifications.templates_cache import template_find
from tests.fakes.processes import gunicorn
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import seed_default_templates, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(
    require_redis: str, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP, tmp_path: Path
) -> Iterator[httpx.Client]:
    seed_default_templates()
    env = worker_env(fake_telegram=fake_telegram, fake_smtp=fake_smtp)
    process, url = gunicorn(env=env, log_path=tmp_path / "gunicorn.log", workers=1)  # one process, one memo
    _, key = api_key_create(name="two processes")
    try:
        yield httpx.Client(base_url=url, headers={"Authorization": f"Api-Key {key}"}, timeout=10)
    finally:
        process.stop()


def email_of_order(client: httpx.Client, customer: Customer) -> Delivery:
    """The email of an order message rendered by the web process (a send renders in the request; the
    order events themselves are planned by a worker)."""
    body: dict[str, Any] = {
        "customer": customer.pk,
        "template": "order_created",
        "context": {"order": {"number": f"ORD-{Delivery.objects.count():06d}", "total": "9.99"}},
        "channels": ["email"],
        "category": "order_updates",
    }
    sent = client.post("/api/v1/notifications/send/", json=body)
    assert sent.status_code == 202, sent.text
    return Delivery.objects.get(notification_id=sent.json()["id"], channel="email")


def test_a_template_edit_reaches_the_next_render_in_another_process(web: httpx.Client) -> None:
    ada = Customer.objects.create(name="Ada", email="ada@example.com", channels=["email"])
    before = email_of_order(web, ada)  # the web process reads the template and keeps it
    template = NotificationTemplate.objects.get(key="order_created", channel="email", language="en")
    assert "Second edition" not in before.body

    template.body_text = "Second edition: order {{ order.number }} for {{ customer.name }}."
    template.save()  # committed here, in this process

    after = email_of_order(web, ada)
    assert after.body.startswith("Second edition: order ORD-")
    assert "for Ada." in after.body


def test_a_customer_change_reaches_another_process_at_once(web: httpx.Client) -> None:
    ada = Customer.objects.create(name="Ada", email="ada@example.com", channels=["email"])
    assert web.get(f"/api/v1/customers/{ada.pk}/").json()["email"] == "ada@example.com"  # now cached

    ada.email = "ada@new.example"
    ada.save()

    assert web.get(f"/api/v1/customers/{ada.pk}/").json()["email"] == "ada@new.example"
    assert email_of_order(web, ada).address == "ada@new.example"


def test_a_template_changed_through_the_api_of_another_process_is_rendered_here_next(
    web: httpx.Client,
) -> None:
    template = NotificationTemplate.objects.get(key="order_shipped", channel="telegram", language="en")
    assert template_find(key="order_shipped", channel="telegram", language="en") == template  # kept here

    changed = web.patch(f"/api/v1/templates/{template.pk}/", json={"body": "Shipped: {{ order.number }}"})
    assert changed.status_code == 200, changed.text

    found = template_find(key="order_shipped", channel="telegram", language="en")
    assert found is not None
    assert found.body_text == "Shipped: {{ order.number }}"
