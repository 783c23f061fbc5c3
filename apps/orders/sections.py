"""Sections other apps add to the order detail (GET /orders/{id}/), so that orders imports none of
them: each registers a function of the order in its AppConfig.ready()."""

from collections.abc import Callable
from typing import Any

from apps.orders.models import Order

ORDER_DETAIL_SECTIONS: dict[str, Callable[[Order], Any]] = {}


def order_section_register(name: str, section: Callable[[Order], Any]) -> None:
    ORDER_DETAIL_SECTIONS[name] = section
