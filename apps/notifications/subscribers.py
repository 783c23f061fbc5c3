"""Order events -> notifications, inside the order's own transaction (the outbox pattern)."""

from typing import Any

from apps.customers.models import Customer
from apps.customers.selectors import customer_find
from apps.notifications.models import Event
from apps.notifications.planning import notification_for_order
from apps.orders.events import OrderCreated, OrderStatusChanged


def _customer(customer_id: int) -> Customer:
    customer = customer_find(customer_id)
    if customer is None:  # the order's foreign key guarantees it; only a racing delete could get here
        raise Customer.DoesNotExist(customer_id)
    return customer


def on_order_created(event: OrderCreated) -> None:
    notification_for_order(
        customer=_customer(event.customer_id),
        order_id=event.order_id,
        template_key="order_created",
        status=event.status,
        context={"order": event.order},
        event=Event.ORDER_CREATED,
    )


def on_order_status_changed(event: OrderStatusChanged) -> None:
    context: dict[str, Any] = {"order": event.order, "from_status": event.from_status, "note": event.note}
    notification_for_order(
        customer=_customer(event.customer_id),
        order_id=event.order_id,
        template_key=f"order_{event.to_status}",
        status=event.to_status,
        context=context,
        event=Event.ORDER_STATUS_CHANGED,
    )
