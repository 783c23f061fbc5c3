"""The order detail (GET /orders/{id}/): the order, its items and history, and the sections other
apps add (its notifications), cached as the rendered answer and checked before every use.

The check comes with the order's row, in one query: its `updated_at` and each section's version
expression (the notifications section's: how many notifications, and the latest change of any of
them or of their deliveries). It is read before the answer is built, so an answer stored under a
version is never older than that version: a change committed meanwhile gives a newer version at the
next read, which builds again. So the cache needs no invalidation and is never stale; a hit costs
that one query and one Redis read, a miss the usual five queries.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db.models import TextField, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Concat
from django.http import Http404
from rest_framework.renderers import JSONRenderer

from apps.orders.models import Order
from apps.orders.output import order_output
from apps.orders.sections import ORDER_DETAIL_SECTIONS
from apps.orders.selectors import order_get
from core.cache import CACHE_REQUESTS

logger = logging.getLogger(__name__)

CACHE_NAME = "order_detail"


def order_with_version(order_id: int) -> Order | None:
    """The order row and, as `detail_version`, what its detail's content depends on (one query)."""
    column = f'"{Order._meta.db_table}"."id"'
    parts = [Cast("updated_at", TextField())] + [
        RawSQL(f"CAST({section.version_sql.format(order_id=column)} AS TEXT)", [])  # noqa: S611
        for section in ORDER_DETAIL_SECTIONS.values()
    ]
    return (
        Order.objects.annotate(detail_version=Concat(*parts, output_field=TextField()))
        .filter(pk=order_id)
        .first()
    )


def order_detail_build(order: Order) -> bytes:
    body = order_output(order)
    for name, section in ORDER_DETAIL_SECTIONS.items():
        body[name] = section.build(order)
    return JSONRenderer().render(body)


def order_detail(order_id: int) -> bytes:
    """The rendered detail of the order (Http404 for none), from the cache when its version holds."""
    if not settings.CACHE_ENABLED:
        return order_detail_build(order_get(order_id))
    order = order_with_version(order_id)
    if order is None:
        raise Http404("No order with this id.")
    version = order.detail_version  # type: ignore[attr-defined]
    key = f"order-detail:{order_id}"
    try:
        entry = cache.get(key)
    except Exception:
        CACHE_REQUESTS.labels(CACHE_NAME, "error").inc()
        return order_detail_build(_with_relations(order))
    if isinstance(entry, tuple) and entry[0] == version:
        CACHE_REQUESTS.labels(CACHE_NAME, "hit").inc()
        return bytes(entry[1])
    CACHE_REQUESTS.labels(CACHE_NAME, "miss").inc()
    body = order_detail_build(_with_relations(order))
    try:
        cache.set(key, (version, body), settings.CACHE_TIMEOUT)
    except Exception:
        logger.debug("could not cache the detail of order %s", order_id, exc_info=True)
    return body


def _with_relations(order: Order) -> Order:
    prefetch_related_objects([order], "items", "status_history")
    return order
