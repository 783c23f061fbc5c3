"""No N+1 queries: the API and the delivery path issue a bounded number of queries whatever the size
of what they return or send."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.notifications.models import Delivery, Notification
from apps.notifications.outbox.pump import outbox_drain
from apps.notifications.planning import MessageSource, notification_create
from tests.conftest import plan_order_events
from tests.fakes.smtp import FakeSMTP

pytestmark = pytest.mark.django_db


def test_creating_an_order_with_its_notification(
    api: APIClient, make_customer: Any, django_assert_max_num_queries: Any
) -> None:
    customer = make_customer(email="q@example.com", telegram_chat_id=5)
    items = [{"sku": f"S{i}", "name": "x", "quantity": 1, "unit_price": "1.00"} for i in range(20)]
    api.post("/api/v1/orders/", {"customer": customer["id"], "items": items}, format="json")  # warm cache

    # The order (its number is computed by the database), its items, the notification and its
    # deliveries: one INSERT each; the key, the customer and the templates come from the cache; the
    # test's transaction adds a savepoint and its release around the order.
    with django_assert_max_num_queries(6):
        response = api.post("/api/v1/orders/", {"customer": customer["id"], "items": items}, format="json")

    assert response.status_code == 201
    assert len(response.json()["items"]) == 20


def test_an_api_send(api: APIClient, make_customer: Any, django_assert_max_num_queries: Any) -> None:
    customer = make_customer(email="q@example.com", telegram_chat_id=5)
    api.post("/api/v1/notifications/send/", {"customer": customer["id"], "message": "Hi"}, format="json")

    # The hourly cap, the notification, the dedup check per channel, the deliveries.
    with django_assert_max_num_queries(5):
        response = api.post(
            "/api/v1/notifications/send/", {"customer": customer["id"], "message": "Hi 2"}, format="json"
        )

    assert response.status_code == 202
    assert len(response.json()["deliveries"]) == 2


def test_order_detail_does_not_grow_with_items_and_notifications(
    api: APIClient, make_order: Any, django_assert_max_num_queries: Any
) -> None:
    items = [{"sku": f"S{i}", "name": "x", "quantity": 1, "unit_price": "1.00"} for i in range(30)]
    order = make_order(items=items)
    for status in ("confirmed", "processing", "shipped"):
        api.put(f"/api/v1/orders/{order['id']}/status/", {"status": status}, format="json")
    plan_order_events()

    # The order, its items, its history, its notifications, their deliveries, the deliveries' attempts
    # and their providers' tracking events.
    with django_assert_max_num_queries(7):
        response = api.get(f"/api/v1/orders/{order['id']}/")

    assert len(response.json()["items"]) == 30
    assert len(response.json()["notifications"]) == 4


@pytest.mark.parametrize("url", ["/api/v1/customers/", "/api/v1/orders/", "/api/v1/notifications/history/"])
def test_lists_do_not_grow_with_their_rows(
    api: APIClient, make_order: Any, django_assert_max_num_queries: Any, url: str
) -> None:
    for _ in range(15):
        make_order()
    plan_order_events()

    with django_assert_max_num_queries(7):
        response = api.get(url, {"page_size": 50})

    assert len(response.json()["results"]) == 15


@pytest.mark.usefixtures("smtp_sink")  # a real SMTP send, as a worker makes it
def test_sending_one_delivery(django_assert_max_num_queries: Any) -> None:
    customer = Customer.objects.create(name="Q", email="q@example.com", channels=["email"])
    notification = notification_create(
        customer=customer, event="custom", source=MessageSource(message="Hi"), channels=["email"]
    )
    delivery = Delivery.objects.get(notification=notification, channel="email")

    # The claim (UPDATE ... RETURNING), the notifications with their customers, then one transaction
    # (two savepoint statements under the test's transaction): attempts, deliveries, the status pass
    # (lock, read, update); the claim that finds nothing left, and the next due time for the timer;
    # the webhook endpoints subscribed to delivery events (once, then from the cache); whether a
    # digest window is due to close (the drain's first claim).
    with django_assert_max_num_queries(13):
        outbox_drain(channel="email")

    delivery.refresh_from_db()
    assert delivery.status == "sent"


BATCH = 50


def test_a_batch_of_50_costs_well_under_one_query_per_message(
    django_assert_max_num_queries: Any, settings: Any, smtp_sink: FakeSMTP
) -> None:
    settings.NOTIFICATION_BATCH_SIZE = BATCH
    settings.NOTIFICATION_RECORD_EVERY = 10
    customers = Customer.objects.bulk_create(
        Customer(name=f"Q{n}", email=f"q{n}@example.com", channels=["email"]) for n in range(BATCH)
    )
    for customer in customers:
        notification_create(
            customer=customer, event="custom", source=MessageSource(message="Hi"), channels=["email"]
        )

    # One claim and one read for the batch, and (the batch is full) whether another channel has work
    # due before a second drain is woken; per record (every 10 sends) attempts, deliveries and the
    # status pass in one transaction: 3 + 5 x 7 + the empty claim and the next due time + the webhook
    # endpoints (then cached) + whether a digest window is due (first claim) + which addresses are on
    # the suppression list (once per batch) = 43, 0.86 per message.
    with django_assert_max_num_queries(43) as queries:
        result = outbox_drain(channel="email")

    assert result.sent == BATCH
    assert len(smtp_sink.messages) == BATCH
    print(f"\n{len(queries)} queries for a batch of {BATCH}: {len(queries) / BATCH:.2f} per message")
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}


def test_the_created_order_answered_from_memory_equals_what_is_stored(
    api: APIClient, make_customer: Any
) -> None:
    customer = make_customer()
    items = [
        {"sku": "MUG", "name": "Mug", "quantity": 3, "unit_price": "9.9"},
        {"sku": "TEA", "name": "Tea", "quantity": 1, "unit_price": "0"},
    ]
    created = api.post(
        "/api/v1/orders/", {"customer": customer["id"], "items": items, "external_id": "x-1"}, format="json"
    ).json()

    stored = api.get(f"/api/v1/orders/{created['id']}/").json()
    stored.pop("notifications")
    assert created == stored
    assert created["total"] == "29.70"
