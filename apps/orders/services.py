"""Order writes: creation with server-side totals, and status changes through the state machine."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.customers.models import Customer
from apps.orders.events import OrderCreated, OrderStatusChanged
from apps.orders.models import Order, OrderEvent, OrderEventKind, OrderItem, OrderStatusChange
from apps.orders.selectors import order_with_relations
from apps.orders.state_machine import order_transition
from core.logging import request_id_var
from core.patterns.observer import event_bus

CENT = Decimal("0.01")


@dataclass(frozen=True)
class ItemInput:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def order_data(order: Order, items: list[OrderItem]) -> dict[str, Any]:
    """The order as messages show it (template context `order`), carried by the order's events."""
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "total": _money(order.total),
        "currency": order.currency,
        "items": [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price": _money(i.unit_price)}
            for i in items
        ],
    }


def order_total(items: list[ItemInput]) -> Decimal:
    return sum((item.unit_price * item.quantity for item in items), Decimal("0")).quantize(CENT)


@transaction.atomic
def order_create(
    *, customer: Customer, items: list[ItemInput], currency: str = "EUR", external_id: str | None = None
) -> Order:
    """Create an order with its items and publish `order_created` in the same transaction."""
    if not items:
        raise ValidationError({"items": ["An order needs at least one item."]})
    order = Order(
        customer=customer,
        currency=currency,
        total=order_total(items),
        external_id=external_id or None,
    )
    # The customer is a row the caller has read: no query to check the foreign key again.
    order.full_clean(exclude=["number", "customer"])
    if order.external_id is None:
        order.save()
    else:
        try:
            with transaction.atomic():  # a concurrent insert of the same external_id
                order.save()
        except IntegrityError as exc:
            raise ValidationError({"external_id": ["An order with this external_id exists."]}) from exc
    rows = OrderItem.objects.bulk_create(
        OrderItem(order=order, sku=i.sku, name=i.name, quantity=i.quantity, unit_price=i.unit_price)
        for i in items
    )
    data = order_data(order, rows)
    _event_record(order, kind=OrderEventKind.CREATED, to_status=order.status, payload=data)
    event_bus.publish(
        OrderCreated(order_id=order.pk, customer_id=customer.pk, status=order.status, order=data)
    )
    # A new order has no history yet; its items are the rows just written.
    return order_with_relations(order, items=rows, history=[])


@transaction.atomic
def order_change_status(*, order: Order, status: str, note: str = "") -> Order:
    """Move an order to `status` under a row lock; illegal moves raise IllegalTransition (409).

    Putting the current status again changes nothing and publishes nothing, so clients may retry.
    """
    order = Order.objects.select_for_update().prefetch_related("items").get(pk=order.pk)
    transition = order_transition(order.status, status)
    if not transition.is_change:
        return order
    order.status = status
    order.save(update_fields=["status", "updated_at"])
    OrderStatusChange.objects.create(order=order, from_status=transition.source, to_status=status, note=note)
    data = order_data(order, list(order.items.all()))
    _event_record(
        order,
        kind=OrderEventKind.STATUS_CHANGED,
        from_status=transition.source,
        to_status=status,
        note=note,
        payload=data,
    )
    event_bus.publish(
        OrderStatusChanged(
            order_id=order.pk,
            customer_id=order.customer_id,
            from_status=transition.source,
            to_status=status,
            note=note,
            order=data,
        )
    )
    return order


def _event_record(order: Order, *, kind: str, to_status: str, payload: dict[str, Any], **fields: str) -> None:
    """The event's row in the order events outbox, in the order's transaction: whatever happens after
    the commit (a worker, Redis or the broker dying), the event is planned into notifications once."""
    OrderEvent.objects.create(
        order=order,
        customer_id=order.customer_id,
        kind=kind,
        to_status=to_status,
        payload=payload,
        request_id=_request_id(),
        next_attempt_at=timezone.now(),
        **fields,
    )


def _request_id() -> str:
    value = request_id_var.get()
    return "" if value == "-" else value
