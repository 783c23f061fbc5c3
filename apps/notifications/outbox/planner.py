"""The order events planner: the outbox of order events (apps.orders.models.OrderEvent, written in
the order's own transaction) becomes notifications and deliveries here, in a worker, so a request that
creates or moves an order writes only what the order needs.

One planner runs at a time (it holds the one turn of its flag), and a batch is planned in id order, so
one order's events become notifications in the order they happened (a `shipped` planned before its
`confirmed` would otherwise supersede the wrong one). A batch is planned in one transaction, which also
deletes its events: planned exactly once. An event that cannot be planned (a bug, a database error)
fails its batch; the batch is then planned event by event, so only the bad one waits and is retried
with backoff, and fails for good after NOTIFICATION_MAX_ATTEMPTS.
"""

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.customers.models import Category, Customer
from apps.notifications import dispatch, metrics
from apps.notifications.dedup import delivery_skip
from apps.notifications.digests import digest_holds
from apps.notifications.events import deliveries_finished
from apps.notifications.models import (
    Delivery,
    DeliveryStatus,
    Event,
    Notification,
    NotificationStatus,
    Priority,
    SkipReason,
    Strategy,
)
from apps.notifications.planning import (
    MessageSource,
    deliveries_after_commit,
    deliveries_plan,
    notification_for_order,
    notifications_supersede,
)
from apps.notifications.status import notifications_completed
from apps.notifications.strategies import STRATEGIES, candidate_channels
from apps.orders.models import OrderEvent, OrderEventKind, OrderEventStatus
from core.cache import scope_begin
from core.logging import request_id_var
from core.outbox.backoff import backoff_delay
from core.outbox.claim import rows_claim, rows_expired
from core.outbox.drain import Drain, DrainResult, Due, due_read
from core.outbox.lease import lease_until
from core.wake import MAX_TIMER

logger = logging.getLogger(__name__)

BATCH = 100


def events_claim(limit: int) -> list[OrderEvent]:
    now = timezone.now()
    claimed = rows_claim(
        OrderEvent,
        where="c.status = %(pending)s AND c.next_attempt_at <= %(now)s",
        order_by="c.id",
        limit=limit,
        assign={
            "status": OrderEventStatus.PLANNING,
            "lease_until": lease_until(settings.NOTIFICATION_CLAIM_LEASE),
        },
        params={"pending": OrderEventStatus.PENDING, "now": now},
    )
    return sorted(claimed, key=lambda e: e.pk)


def event_plan(event: OrderEvent, customer: Customer) -> None:
    """The notification of one order event (none when one exists already for the order and status)."""
    if event.kind == OrderEventKind.CREATED:
        template_key, kind = "order_created", Event.ORDER_CREATED
        context: dict[str, Any] = {"order": event.payload}
    else:
        template_key, kind = f"order_{event.to_status}", Event.ORDER_STATUS_CHANGED
        context = {"order": event.payload, "from_status": event.from_status, "note": event.note}
    token = request_id_var.set(event.request_id or "-")  # its deliveries' log lines name the request
    try:
        notification_for_order(
            customer=customer,
            order_id=event.order_id,
            template_key=template_key,
            status=event.to_status,
            context=context,
            event=kind,
        )
    finally:
        request_id_var.reset(token)


def _notification_of(event: OrderEvent, customer: Customer) -> Notification:
    """The notification of one order event (unsaved), as notification_for_order makes it."""
    if event.kind == OrderEventKind.CREATED:
        template_key, kind = "order_created", Event.ORDER_CREATED
        context: dict[str, Any] = {"order": event.payload}
    else:
        template_key, kind = f"order_{event.to_status}", Event.ORDER_STATUS_CHANGED
        context = {"order": event.payload, "from_status": event.from_status, "note": event.note}
    return Notification(
        customer=customer,
        order_id=event.order_id,
        event=kind,
        category=Category.ORDER_UPDATES,
        template_key=template_key,
        context=MessageSource(template_key=template_key).context_for(context),
        channels=candidate_channels(customer, None),
        strategy=Strategy.ALL,
        priority=Priority.HIGH,
        dedup_key=f"order:{event.order_id}:{event.to_status}",
        request_id=event.request_id,
    )


def _plan_together(events: Sequence[OrderEvent], customers: dict[int, Customer]) -> None:
    """The notifications of a batch of events with a handful of statements whatever its size: the
    waiting status notifications of its orders superseded at once, then every notification in one
    INSERT and every delivery in another. A status event followed by a newer one of the same order in
    the batch supersedes its own notification's deliveries, as the newer one would have."""
    status_events = [e for e in events if e.kind == OrderEventKind.STATUS_CHANGED]
    if status_events:
        notifications_supersede(order_ids=sorted({e.order_id for e in status_events}))
    newest = {e.order_id: e.pk for e in status_events}  # events come in id order
    notifications, deliveries = [], []
    for event in events:
        customer = customers[event.customer_id]
        notification = _notification_of(event, customer)
        token = request_id_var.set(event.request_id or "-")
        try:
            planned = deliveries_plan(notification=notification, customer=customer)
            digest_holds(customer, notification, planned)
        finally:
            request_id_var.reset(token)
        if event.kind == OrderEventKind.STATUS_CHANGED and newest[event.order_id] != event.pk:
            for delivery in planned:
                if delivery.status == DeliveryStatus.QUEUED:
                    delivery_skip(delivery, SkipReason.SUPERSEDED)
        notification.status = STRATEGIES[Strategy.ALL].status([d.status for d in planned])
        notifications.append(notification)
        deliveries.append(planned)
    Notification.objects.bulk_create(notifications)
    for notification, planned in zip(notifications, deliveries, strict=True):
        for delivery in planned:
            delivery.notification = notification
    every = Delivery.objects.bulk_create([d for planned in deliveries for d in planned])
    deliveries_finished(every)  # those skipped at once
    notifications_completed([n.pk for n in notifications if n.status != NotificationStatus.QUEUED])
    deliveries_after_commit(every, priority=Priority.HIGH)
    kinds = Counter(n.event for n in notifications)
    transaction.on_commit(lambda: _count(kinds))


def _count(kinds: Counter[str]) -> None:
    for kind, count in kinds.items():
        metrics.NOTIFICATIONS.labels(kind).inc(count)


def events_plan(events: Sequence[OrderEvent]) -> int:
    """Plan a batch of claimed events in one transaction (each alone when one of them fails)."""
    customers = Customer.objects.in_bulk({e.customer_id for e in events})
    try:
        with transaction.atomic():
            _plan_together(events, customers)
            OrderEvent.objects.filter(pk__in=[e.pk for e in events]).delete()
        return len(events)
    except Exception:
        logger.warning("A batch of %d order events failed; planning them one by one", len(events))
    planned = 0
    for event in events:
        try:
            with transaction.atomic():
                customer = customers.get(event.customer_id) or Customer.objects.get(pk=event.customer_id)
                try:
                    with transaction.atomic():
                        event_plan(event, customer)
                except IntegrityError:  # planned before (its notification exists): nothing more to do
                    logger.info("Order event %s was planned already", event.pk)
                event.delete()
            planned += 1
        except Exception as exc:
            _failed(event, exc)
    return planned


def _failed(event: OrderEvent, exc: Exception) -> None:
    attempts = event.attempts + 1
    give_up = attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
    wait = backoff_delay(
        attempts, base=settings.NOTIFICATION_BACKOFF_BASE, cap=settings.NOTIFICATION_BACKOFF_CAP
    )
    OrderEvent.objects.filter(pk=event.pk).update(
        status=OrderEventStatus.FAILED if give_up else OrderEventStatus.PENDING,
        attempts=attempts,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
    )
    logger.error(
        "Order event %s (%s of order %s) could not be planned%s: %s",
        event.pk,
        event.kind,
        event.order_id,
        " for good" if give_up else f"; again in {wait:.1f} s",
        exc,
        exc_info=exc,
    )


@transaction.atomic
def events_reclaim_expired() -> int:
    """Events whose planner died while planning them: pending again (their planning rolled back)."""
    ids = [row[0] for row in rows_expired(OrderEvent, sending=OrderEventStatus.PLANNING, now=timezone.now())]
    if ids:
        OrderEvent.objects.filter(pk__in=ids).update(
            status=OrderEventStatus.PENDING, attempts=F("attempts") + 1, next_attempt_at=timezone.now()
        )
        logger.warning("%d order events taken back from a planner that stopped", len(ids))
    return len(ids)


class EventsDrain(Drain):
    model = OrderEvent
    sending = OrderEventStatus.PLANNING

    def claim(self, limit: int) -> list[OrderEvent]:
        return events_claim(limit)

    def send(self, batch: Sequence[Any], result: DrainResult, *, deadline: float) -> None:
        scope_begin()  # a template changed since the last batch is read again (core.cache)
        result.sent += events_plan(batch)

    def reclaim(self) -> int:
        return events_reclaim_expired()

    def due(self, *, after: datetime) -> Due:
        return due_read(
            OrderEvent.objects.all(),
            waiting=[OrderEventStatus.PENDING],
            sending=OrderEventStatus.PLANNING,
            after=after,
            horizon=MAX_TIMER,
        )

    def wake(self, *, countdown: float) -> None:
        dispatch.events_wake(countdown=countdown)


def order_events_plan(
    *, budget: float | None = None, each_batch: Callable[[], None] | None = None
) -> DrainResult:
    """Plan due order events until none is left or `budget` seconds have passed."""
    drain = EventsDrain(batch_size=BATCH, lease=settings.NOTIFICATION_CLAIM_LEASE)
    budget = settings.NOTIFICATION_DRAIN_SECONDS if budget is None else budget
    return drain.run(budget=budget, each_batch=each_batch)
