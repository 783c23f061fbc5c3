"""Broadcasts: one message to many customers, written in chunks with a few queries per chunk.

A per-customer `notification_create` costs about ten queries; for 20,000 customers that is minutes.
Here each chunk of customers costs a constant handful: one read of the customers, one aggregate for
the hourly cap, one read of recent identical messages (the dedup window), one bulk insert of
notifications, one of deliveries, and a status update per distinct status. Deliveries are enqueued
after each chunk commits, so the workers start while later chunks are still being written.
"""

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.customers.models import Category, Customer
from apps.notifications.dedup import NOT_REPEATED
from apps.notifications.digests import digest_holds
from apps.notifications.models import Delivery, Event, Notification, Priority, Strategy
from apps.notifications.planning import MessageSource, deliveries_after_commit, delivery_build
from apps.notifications.status import scheduled_or
from apps.notifications.strategies import STRATEGIES, candidate_channels


@dataclass
class BroadcastResult:
    customers: int = 0
    notifications: int = 0
    deliveries: Tally[str] = field(default_factory=Tally)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "notifications": self.notifications,
            "deliveries": dict(self.deliveries),
        }


def _chunks(queryset: QuerySet[Customer], size: int) -> Iterator[list[Customer]]:
    """Keyset pagination by id: constant memory, no OFFSET scans."""
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last).order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def broadcast_send(
    *,
    source: MessageSource,
    context: dict[str, Any] | None = None,
    channels: list[str] | None = None,
    strategy: str = Strategy.ALL,
    priority: str = Priority.NORMAL,
    category: str = Category.MARKETING,
    customer_ids: list[int] | None = None,
    chunk_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    send_at: datetime | None = None,
) -> BroadcastResult:
    customers = (
        Customer.objects.all() if customer_ids is None else Customer.objects.filter(pk__in=customer_ids)
    )
    total = customers.count()
    result = BroadcastResult()
    full_context = source.context_for(context)
    for chunk in _chunks(customers, chunk_size):
        _send_chunk(chunk, source, full_context, channels, strategy, priority, category, send_at, result)
        result.customers += len(chunk)
        if progress is not None:
            progress(result.customers, total)
    return result


def broadcast_from_request(data: dict[str, Any]) -> dict[str, Any]:
    """A validated broadcast request (see BroadcastInputSerializer), as the worker runs it."""
    result = broadcast_send(
        source=MessageSource.from_request(data),
        context=data.get("context") or {},
        channels=data.get("channels"),
        strategy=data.get("strategy") or Strategy.ALL,
        priority=data.get("priority") or Priority.NORMAL,
        category=data.get("category") or Category.MARKETING,
        customer_ids=data.get("customers"),
        send_at=_moment(data.get("send_at")),
    )
    return result.as_dict()


def _moment(value: Any) -> datetime | None:
    """`send_at` as the task got it: an ISO 8601 string through the broker's JSON."""
    return parse_datetime(value) if isinstance(value, str) else value


@transaction.atomic
def _send_chunk(
    chunk: list[Customer],
    source: MessageSource,
    context: dict[str, Any],
    channels: list[str] | None,
    strategy: str,
    priority: str,
    category: str,
    send_at: datetime | None,
    result: BroadcastResult,
) -> None:
    now = timezone.now()
    ids = [c.pk for c in chunk]
    recent = dict(
        Notification.objects.filter(
            customer_id__in=ids, event=Event.CUSTOM, created_at__gte=now - timedelta(hours=1)
        )
        .values_list("customer_id")
        .annotate(n=Count("id"))
    )
    notifications = Notification.objects.bulk_create(
        Notification(
            customer=customer,
            event=Event.CUSTOM,
            category=category,
            template_key=source.template_key,
            context=context,
            channels=candidate_channels(customer, channels),
            strategy=strategy,
            priority=priority,
            send_at=send_at,
        )
        for customer in chunk
    )
    seen = set(
        Delivery.objects.filter(
            notification__customer_id__in=ids,
            created_at__gte=now - timedelta(seconds=settings.NOTIFICATION_DEDUP_WINDOW),
        )
        .exclude(status__in=NOT_REPEATED)
        .values_list("notification__customer_id", "channel", "content_hash")
    )

    def is_duplicate(customer: Customer, channel: str, digest: str) -> bool:
        key = (customer.pk, channel, digest)
        if key in seen:
            return True
        seen.add(key)  # the same customer twice in one broadcast is a duplicate too
        return False

    deliveries: list[Delivery] = []
    by_status: dict[str, list[int]] = {}
    for notification, customer in zip(notifications, chunk, strict=True):
        capped = recent.get(customer.pk, 0) >= settings.NOTIFICATION_CUSTOMER_HOURLY_CAP
        plans = STRATEGIES[strategy].plan(customer, notification.channels, notification.category)
        built = [delivery_build(notification, customer, plan, capped, is_duplicate) for plan in plans]
        digest_holds(customer, notification, built)
        deliveries += built
        status = scheduled_or(STRATEGIES[strategy].status([d.status for d in built]), send_at, now)
        by_status.setdefault(status, []).append(notification.pk)
    Delivery.objects.bulk_create(deliveries, batch_size=1000)
    for status, notification_ids in by_status.items():
        if status != Notification._meta.get_field("status").default:
            Notification.objects.filter(pk__in=notification_ids).update(status=status)
    deliveries_after_commit(deliveries, priority=priority)
    result.notifications += len(notifications)
    result.deliveries.update(d.skip_reason or d.status for d in deliveries)
