"""Order events: one per change, published inside the order's transaction."""

from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from apps.orders.events import OrderCreated, OrderStatusChanged
from apps.orders.models import Order
from apps.orders.selectors import order_get
from apps.orders.services import order_change_status
from core.patterns.observer import event_bus

pytestmark = pytest.mark.django_db


def test_one_event_per_change(api: APIClient, make_order: Any, order_events: list[object]) -> None:
    order = make_order()
    url = f"/api/v1/orders/{order['id']}/status/"

    api.put(url, {"status": "confirmed"}, format="json")
    api.put(url, {"status": "confirmed"}, format="json")  # a retry: no change, no event
    api.put(url, {"status": "delivered"}, format="json")  # illegal: no event
    api.put(url, {"status": "cancelled", "note": "customer asked"}, format="json")

    assert order_events == [
        OrderCreated(order_id=order["id"], customer_id=order["customer"], status="pending"),
        OrderStatusChanged(
            order_id=order["id"],
            customer_id=order["customer"],
            from_status="pending",
            to_status="confirmed",
            note="",
        ),
        OrderStatusChanged(
            order_id=order["id"],
            customer_id=order["customer"],
            from_status="confirmed",
            to_status="cancelled",
            note="customer asked",
        ),
    ]


def test_failing_subscriber_rolls_back_the_status_change(make_order: Any) -> None:
    order = make_order()

    def explode(event: object) -> None:
        raise RuntimeError("subscriber failed")

    event_bus.subscribe(OrderStatusChanged, explode)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            order_change_status(order=order_get(order["id"]), status="confirmed")
    finally:
        event_bus.unsubscribe(OrderStatusChanged, explode)

    assert Order.objects.get(pk=order["id"]).status == "pending"
    assert not Order.objects.get(pk=order["id"]).status_history.exists()
