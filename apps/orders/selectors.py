"""Order reads (the repository)."""

from django.db.models import QuerySet
from django.http import Http404

from apps.orders.models import Order, OrderItem, OrderStatusChange
from core.utils.ids import parse_id
from core.utils.prefetch import with_prefetched


def order_queryset() -> QuerySet[Order]:
    # The customer is shown by id only (customer_id): no join.
    return Order.objects.prefetch_related("items", "status_history")


def order_get(order_id: object) -> Order:
    """The order with its items and history; malformed or unknown ids are 404 alike."""
    order = order_queryset().filter(pk=parse_id(order_id) or 0).first()
    if order is None:
        raise Http404("No order with this id.")
    return order


def order_with_relations(order: Order, *, items: list[OrderItem], history: list[OrderStatusChange]) -> Order:
    """An order just written, with its items and history in memory: serializing it costs no query."""
    return with_prefetched(order, items=items, status_history=history)  # type: ignore[return-value]


def order_list(
    *, customer_id: object = None, status: str | None = None, external_id: str | None = None
) -> QuerySet[Order]:
    queryset = order_queryset().order_by("-id")
    if customer_id is not None:
        queryset = queryset.filter(customer_id=parse_id(customer_id) or 0)
    if status:
        queryset = queryset.filter(status=status)
    if external_id:
        queryset = queryset.filter(external_id=external_id)
    return queryset
