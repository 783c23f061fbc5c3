"""Order writes: creation with server-side totals, and status changes through the state machine."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field
from django.utils import timezone

from apps.customers.models import Customer
from apps.orders.events import OrderCreated, OrderStatusChanged
from apps.orders.insert import NewOrder, order_insert
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


def order_create(
    *,
    customer: Customer | None = None,
    customer_id: int | None = None,
    items: list[ItemInput],
    currency: str = "EUR",
    external_id: str | None = None,
) -> Order:
    """Create an order with its items and its `order_created` event (the outbox row its
    notifications are planned from), all at once, and publish `order_created`.

    Raises ValidationError for what the order itself refuses (no items, a total beyond the column,
    a malformed currency), UnknownCustomer and ExternalIdTaken."""
    if not items:
        raise ValidationError({"items": ["An order needs at least one item."]})
    owner = customer.pk if customer is not None else customer_id
    if owner is None:
        raise ValueError("order_create needs the customer")
    total = order_total(items)
    _validate(total=total, currency=currency)
    new = NewOrder(
        customer_id=owner,
        currency=currency,
        total=total,
        external_id=external_id or None,
        items=[(i.sku, i.name, i.quantity, i.unit_price) for i in items],
        request_id=_request_id(),
        now=timezone.now(),
    )
    order, rows = order_insert(new)
    # In the caller's transaction if there is one; on its own (autocommit) otherwise, when the
    # subscribers' on-commit work (waking the planner) runs at once.
    event_bus.publish(
        OrderCreated(order_id=order.pk, customer_id=owner, status=order.status, order=order_data(order, rows))
    )
    # A new order has no history yet; its items are the rows just written.
    return order_with_relations(order, items=rows, history=[])


def _validate(*, total: Decimal, currency: str) -> None:
    """The model's own field rules for what the server computes or the caller may pass unchecked."""
    errors = {}
    for name, value in (("total", total), ("currency", currency)):
        try:
            cast("Field[Any, Any]", Order._meta.get_field(name)).run_validators(value)
        except ValidationError as exc:
            errors[name] = exc.messages
    if errors:
        raise ValidationError(errors)


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
