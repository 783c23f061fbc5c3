"""Order events -> a wake of the planner once the order's transaction commits. The events themselves are
rows of the order events outbox (written by the orders app in that transaction); the planner
(outbox.planner) turns them into notifications in a worker."""

from apps.notifications import dispatch
from apps.orders.events import OrderCreated, OrderStatusChanged


def on_order_event(event: OrderCreated | OrderStatusChanged) -> None:
    dispatch.events_wake_on_commit()
