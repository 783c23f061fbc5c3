"""The order detail is cached as its rendered answer and checked against a version read with the order
row: a hit costs one query, and no change is ever missed (nothing invalidates it)."""

from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.notifications.models import Delivery
from apps.notifications.outbox.record import deliveries_skip
from tests.api_gateway.test_cache import UNREACHABLE_REDIS
from tests.conftest import plan_order_events

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("require_redis")]


@pytest.fixture
def order(api: APIClient, make_order: Any) -> dict[str, Any]:
    order = make_order()
    plan_order_events()
    return order


def detail(api: APIClient, order: dict[str, Any]) -> dict[str, Any]:
    response = api.get(f"/api/v1/orders/{order['id']}/")
    assert response.status_code == 200
    return dict(response.json())


def test_a_second_read_costs_one_query_and_answers_the_same(
    api: APIClient, order: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    first = detail(api, order)

    with django_assert_max_num_queries(1):
        second = detail(api, order)

    assert second == first
    assert [n["event"] for n in second["notifications"]] == ["order_created"]


def test_a_delivery_written_after_the_read_is_seen_at_once(api: APIClient, order: dict[str, Any]) -> None:
    before = detail(api, order)
    email = Delivery.objects.get(notification__order_id=order["id"], channel="email")

    deliveries_skip([email], "opted out")  # a write the order app knows nothing about

    after = detail(api, order)
    assert {d["channel"]: d["status"] for d in before["notifications"][0]["deliveries"]}["email"] == "queued"
    assert {d["channel"]: d["status"] for d in after["notifications"][0]["deliveries"]}["email"] == "skipped"


def test_a_status_change_and_its_notification_are_seen_at_once(api: APIClient, order: dict[str, Any]) -> None:
    detail(api, order)
    api.put(f"/api/v1/orders/{order['id']}/status/", {"status": "confirmed"}, format="json")

    moved = detail(api, order)
    plan_order_events()
    planned = detail(api, order)

    assert (moved["status"], len(moved["status_history"]), len(moved["notifications"])) == ("confirmed", 1, 1)
    assert len(planned["notifications"]) == 2


def test_an_update_within_the_same_second_is_seen(api: APIClient, order: dict[str, Any]) -> None:
    detail(api, order)
    Delivery.objects.filter(notification__order_id=order["id"]).update(
        attempts=3, updated_at=timezone.now()
    )  # every write of a delivery sets updated_at

    assert {d["attempts"] for d in detail(api, order)["notifications"][0]["deliveries"]} == {3}


def test_with_redis_unreachable_the_detail_comes_from_the_database(
    api: APIClient, order: dict[str, Any]
) -> None:
    cached = detail(api, order)

    with override_settings(CACHES=UNREACHABLE_REDIS):
        assert detail(api, order) == cached
