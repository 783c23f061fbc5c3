"""The order state machine, table-driven over every pair of statuses, through the HTTP API."""

import itertools
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.orders.models import Order
from apps.orders.state_machine import IllegalTransition, OrderStatus, order_transition
from tests.conftest import error_of

STATUSES = [s.value for s in OrderStatus]
LEGAL = {
    ("pending", "confirmed"),
    ("confirmed", "processing"),
    ("processing", "shipped"),
    ("shipped", "delivered"),
    ("pending", "cancelled"),
    ("confirmed", "cancelled"),
    ("processing", "cancelled"),
}
PAIRS = list(itertools.product(STATUSES, STATUSES))


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_transition_rule(source: str, target: str) -> None:
    if source == target or (source, target) in LEGAL:
        assert order_transition(source, target).target == target
    else:
        with pytest.raises(IllegalTransition):
            order_transition(source, target)


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_status_put_for_every_pair(
    api: APIClient, make_order: Any, order_events: list[object], source: str, target: str
) -> None:
    order = make_order()
    Order.objects.filter(pk=order["id"]).update(status=source)  # arrange the starting state directly
    order_events.clear()

    response = api.put(f"/api/v1/orders/{order['id']}/status/", {"status": target}, format="json")

    if (source, target) in LEGAL:
        assert response.status_code == 200
        assert response.json()["status"] == target
        assert len(response.json()["status_history"]) == 1
        assert len(order_events) == 1
    elif source == target:
        assert response.status_code == 200
        assert response.json()["status_history"] == []
        assert order_events == []
    else:
        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "illegal_transition"
        assert error["details"]["from"] == source
        assert error["details"]["to"] == target
        assert Order.objects.get(pk=order["id"]).status == source
        assert order_events == []
