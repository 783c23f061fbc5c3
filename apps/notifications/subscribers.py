"""Order events -> notifications, inside the order's own transaction (the outbox pattern)."""

from decimal import Decimal
from typing import Any

from apps.notifications.models import Event
from apps.notifications.services import notification_for_order
from apps.orders.events import OrderCreated, OrderStatusChanged
from apps.orders.models import Order
from apps.orders.selectors import order_get


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def order_context(order: Order) -> dict[str, Any]:
    return {
        "order": {
            "id": order.pk,
            "number": order.number,
            "status": order.status,
            "total": _money(order.total),
            "currency": order.currency,
            "items": [
                {"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price": _money(i.unit_price)}
                for i in order.items.all()
            ],
        }
    }


def on_order_created(event: OrderCreated) -> None:
    order = order_get(event.order_id)
    notification_for_order(
        customer=order.customer,
        order_id=event.order_id,
        template_key="order_created",
        status=event.status,
        context=order_context(order),
        event=Event.ORDER_CREATED,
    )


def on_order_status_changed(event: OrderStatusChanged) -> None:
    order = order_get(event.order_id)
    context = {**order_context(order), "from_status": event.from_status, "note": event.note}
    notification_for_order(
        customer=order.customer,
        order_id=event.order_id,
        template_key=f"order_{event.to_status}",
        status=event.to_status,
        context=context,
        event=Event.ORDER_STATUS_CHANGED,
    )
