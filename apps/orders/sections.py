"""Sections other apps add to the order detail (GET /orders/{id}/), so that orders imports none of
them: each registers a function of the order in its AppConfig.ready(), and an SQL expression of the
order's id (written `{order_id}`) that changes whenever the section would (the detail is cached and checked
against these, see apps.orders.detail)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.orders.models import Order


@dataclass(frozen=True)
class OrderSection:
    build: Callable[[Order], Any]
    version_sql: str


ORDER_DETAIL_SECTIONS: dict[str, OrderSection] = {}


def order_section_register(name: str, build: Callable[[Order], Any], *, version_sql: str) -> None:
    ORDER_DETAIL_SECTIONS[name] = OrderSection(build, version_sql)
