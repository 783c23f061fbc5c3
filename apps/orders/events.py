"""Events the orders app publishes on the in-process bus; subscribers never reach back into orders."""

from dataclasses import dataclass


@dataclass(frozen=True)
class OrderCreated:
    order_id: int
    customer_id: int
    status: str


@dataclass(frozen=True)
class OrderStatusChanged:
    order_id: int
    customer_id: int
    from_status: str
    to_status: str
    note: str
