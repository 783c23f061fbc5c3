"""Customers and templates through the cache on real Redis: the order and send paths read them with no
query, a change is seen at once, a reader racing a change cannot store the old row, and with Redis
unreachable every look-up reads the database and the API answers as before."""

from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.customers.selectors import customer_cache_key, customer_find, customer_forget
from apps.customers.services import customer_change_contact
from apps.notifications.models import Delivery, NotificationTemplate
from core.cache import CACHE_REQUESTS, TOMBSTONE, cached
from tests.api_gateway.test_cache import UNREACHABLE_REDIS
from tests.conftest import plan_order_events

pytestmark = pytest.mark.django_db


def table_queries(queries: CaptureQueriesContext, model: Any) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if f'FROM "{model._meta.db_table}"' in q["sql"]]


def order_body(customer_id: int) -> dict[str, Any]:
    return {
        "customer": customer_id,
        "items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
    }


def test_orders_and_sends_read_a_cached_customer_and_templates_with_no_query(
    require_redis: str, api: APIClient, make_customer: Any
) -> None:
    customer = make_customer(telegram_chat_id=77)
    assert api.post("/api/v1/orders/", order_body(customer["id"]), format="json").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        order = api.post("/api/v1/orders/", order_body(customer["id"]), format="json")
        sent = api.post(
            "/api/v1/notifications/send/", {"customer": customer["id"], "message": "Hi"}, format="json"
        )
        read = api.get(f"/api/v1/customers/{customer['id']}/")

    assert (order.status_code, sent.status_code, read.status_code) == (201, 202, 200)
    assert table_queries(queries, Customer) == []
    assert table_queries(queries, NotificationTemplate) == []
    assert {d["channel"] for d in sent.json()["deliveries"]} == {"telegram", "email"}


def test_a_changed_customer_is_read_fresh_at_once(
    require_redis: str, api: APIClient, make_customer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    customer = make_customer(telegram_chat_id=77, channels=["telegram"])
    assert api.get(f"/api/v1/customers/{customer['id']}/").json()["telegram_chat_id"] == "77"  # cached

    with django_capture_on_commit_callbacks(execute=True):
        changed = api.patch(f"/api/v1/customers/{customer['id']}/", {"telegram_chat_id": "88"}, format="json")
    assert changed.status_code == 200

    assert api.get(f"/api/v1/customers/{customer['id']}/").json()["telegram_chat_id"] == "88"
    order = api.post("/api/v1/orders/", order_body(customer["id"]), format="json").json()
    plan_order_events()
    assert Delivery.objects.get(notification__order_id=order["id"], channel="telegram").address == "88"


def test_a_contact_moved_by_the_provider_is_read_fresh(require_redis: str, make_customer: Any) -> None:
    customer = make_customer(telegram_chat_id=-100, channels=["telegram"])
    assert customer_find(customer["id"]).telegram_chat_id == "-100"  # type: ignore[union-attr]

    customer_change_contact(customer_id=customer["id"], channel="telegram", old="-100", new="-100200")

    assert customer_find(customer["id"]).telegram_chat_id == "-100200"  # type: ignore[union-attr]


def test_a_reader_that_loaded_the_old_row_cannot_store_it_over_a_change(require_redis: str) -> None:
    ada = Customer.objects.create(name="Ada", email="ada@example.com")
    key = customer_cache_key(ada.pk)

    def load_then_change_commits() -> Customer:
        old = Customer.objects.get(pk=ada.pk)
        customer_forget(ada.pk)  # another process saves the customer meanwhile
        return old

    cached("customers", key, load_then_change_commits, timeout=60)

    assert cache.get(key) == TOMBSTONE  # the stale row was not stored; the next reader loads anew


def test_with_redis_unreachable_keys_customers_and_templates_come_from_the_database(
    require_redis: str, api: APIClient, make_customer: Any
) -> None:
    customer = make_customer(channels=["email"])
    errors = {name: CACHE_REQUESTS.labels(name, "error")._value.get() for name in ("customers", "templates")}

    with override_settings(CACHES=UNREACHABLE_REDIS):
        read = api.get(f"/api/v1/customers/{customer['id']}/")
        order = api.post("/api/v1/orders/", order_body(customer["id"]), format="json")
        plan_order_events()  # in a worker, with the same Redis down

    assert read.status_code == 200
    assert read.json()["name"] == customer["name"]
    assert order.status_code == 201
    delivery = Delivery.objects.get(notification__order_id=order.json()["id"], channel="email")
    assert order.json()["number"] in delivery.subject + delivery.body  # rendered from the template
    for name, before in errors.items():
        assert CACHE_REQUESTS.labels(name, "error")._value.get() > before
