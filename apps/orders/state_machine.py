"""The order status state machine (docs/design.md, "Orders"), pure logic with no database access."""

from dataclasses import dataclass

from django.db import models


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    PROCESSING = "processing", "Processing"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


# One step forward along the happy path, or cancelled before the parcel leaves.
TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.PROCESSING, OrderStatus.CANCELLED}),
    OrderStatus.PROCESSING: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"An order cannot move from '{source}' to '{target}'.")
        self.source = source
        self.target = target
        self.allowed = sorted(TRANSITIONS.get(source, frozenset()))


@dataclass(frozen=True)
class Transition:
    source: str
    target: str

    @property
    def is_change(self) -> bool:
        return self.source != self.target


def order_transition(source: str, target: str) -> Transition:
    """The transition source -> target; staying put is allowed (an idempotent retry), nothing else is."""
    if source != target and target not in TRANSITIONS.get(source, frozenset()):
        raise IllegalTransition(source, target)
    return Transition(source=source, target=target)
