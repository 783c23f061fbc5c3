"""Events the orders app publishes on the in-process bus; subscribers never reach back into orders.

Each event carries `order`, the order as a message may show it (see `order_data`), so a subscriber
needs no query to read it back.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OrderCreated:
    order_id: int
    customer_id: int
    status: str
    order: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class OrderStatusChanged:
    order_id: int
    customer_id: int
    from_status: str
    to_status: str
    note: str
    order: dict[str, Any] = field(default_factory=dict, compare=False)
