"""The order as the API shows it."""

from typing import Any

from rest_framework import serializers

from apps.orders.models import Order

_datetime = serializers.DateTimeField().to_representation


def order_output(order: Order) -> dict[str, Any]:
    """What OrderOutputSerializer answers (it stays the documented schema), built without DRF's
    per-field machinery: on the order path that cost a fifth of the request. A test holds the two
    equal."""
    return {
        "id": order.pk,
        "number": order.number,
        "customer": order.customer_id,
        "status": order.status,
        "total": f"{order.total:.2f}",
        "currency": order.currency,
        "external_id": order.external_id,
        "items": [
            {"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price": f"{i.unit_price:.2f}"}
            for i in order.items.all()
        ],
        "status_history": [
            {"from_status": h.from_status, "to_status": h.to_status, "note": h.note, "at": _datetime(h.at)}
            for h in order.status_history.all()
        ],
        "created_at": _datetime(order.created_at),
        "updated_at": _datetime(order.updated_at),
    }
