"""Concurrent status changes of one order on real PostgreSQL: the row lock lets exactly one win."""

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.orders.models import Order, OrderStatusChange


def _race(api_key: str, order_id: int, targets: list[str]) -> list[int]:
    """PUT each target status from its own thread (own DB connection), released together."""
    barrier = threading.Barrier(len(targets))
    codes: list[int] = [0] * len(targets)

    def put(index: int, target: str) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        barrier.wait()
        try:
            response = client.put(f"/api/v1/orders/{order_id}/status/", {"status": target}, format="json")
            codes[index] = response.status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=put, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return codes


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
@pytest.mark.parametrize("attempt", range(5))
def test_shipped_and_cancelled_race_has_one_winner(
    api_key: str, make_order: Any, order_events: list[object], attempt: int
) -> None:
    order = make_order()
    Order.objects.filter(pk=order["id"]).update(status="processing")
    order_events.clear()

    codes = _race(api_key, order["id"], ["shipped", "cancelled"])

    assert sorted(codes) == [200, 409]
    final = Order.objects.get(pk=order["id"]).status
    assert final == ("shipped", "cancelled")[codes.index(200)]
    assert OrderStatusChange.objects.filter(order_id=order["id"]).count() == 1
    assert len(order_events) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("require_postgres")
def test_same_status_put_concurrently_changes_once(
    api_key: str, make_order: Any, order_events: list[object]
) -> None:
    order = make_order()
    order_events.clear()

    codes = _race(api_key, order["id"], ["confirmed"] * 4)

    assert codes == [200] * 4
    assert OrderStatusChange.objects.filter(order_id=order["id"]).count() == 1
    assert len(order_events) == 1
