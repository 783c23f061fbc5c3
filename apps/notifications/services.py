"""Notification writes: creating notifications with their deliveries (the outbox), and sending one."""

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.api_gateway import metrics
from apps.customers.models import Category, Customer
from apps.customers.preferences import unsubscribe_url
from apps.customers.services import customer_change_contact, customer_mark_unreachable
from apps.notifications.channels import ChannelError, OutgoingMessage, TransientError, channel_factory
from apps.notifications.circuits import breaker_for
from apps.notifications.events import DeliveryFailed
from apps.notifications.models import (
    PENDING_DELIVERY_STATUSES,
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    Notification,
    NotificationStatus,
    NotificationTemplate,
    SkipReason,
)
from apps.notifications.rendering import RenderedMessage, render_message
from apps.notifications.strategies import STRATEGIES, ChannelPlan, candidate_channels
from core.patterns.observer import event_bus
from core.patterns.rate_limit import RateLimitUnavailable

logger = logging.getLogger(__name__)

# Channels whose text goes out as HTML (Telegram's parse_mode=HTML): personalised values are escaped.
HTML_BODY_CHANNELS = {"telegram"}


@dataclass(frozen=True)
class MessageSource:
    """What to render: a template key, or an ad-hoc subject and message (templates themselves)."""

    template_key: str = ""
    subject: str = ""
    message: str = ""

    @classmethod
    def from_request(cls, data: dict[str, Any]) -> "MessageSource":
        """From a validated send or broadcast body (`template`, or `subject` and `message`)."""
        return cls(
            template_key=data.get("template") or "",
            subject=data.get("subject") or "",
            message=data.get("message") or "",
        )

    def context_for(self, context: dict[str, Any] | None) -> dict[str, Any]:
        """The notification's stored context: the caller's, plus an ad-hoc message to render."""
        stored = dict(context or {})
        if not self.template_key:
            stored["_message"] = {"subject": self.subject, "message": self.message}
        return stored


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


# --- rendering -------------------------------------------------------------------------------


# Templates change rarely and are read for every delivery: each process keeps them for a short
# while, so an edit in the admin reaches every process within TEMPLATE_CACHE_SECONDS.
TEMPLATE_CACHE_SECONDS = 30.0
_templates: dict[tuple[str, str], tuple[float, dict[str, NotificationTemplate]]] = {}


def template_find(*, key: str, channel: str, language: str) -> NotificationTemplate | None:
    cached = _templates.get((key, channel))
    if cached is None or time.monotonic() - cached[0] > TEMPLATE_CACHE_SECONDS:
        by_language = {t.language: t for t in NotificationTemplate.objects.filter(key=key, channel=channel)}
        cached = (time.monotonic(), by_language)
        _templates[(key, channel)] = cached
    return cached[1].get(language) or cached[1].get("en")


def template_cache_clear(**_: Any) -> None:
    _templates.clear()


def render_context(customer: Customer, context: dict[str, Any]) -> dict[str, Any]:
    return {
        **context,
        "customer": {"name": customer.name, "email": customer.email, "language": customer.language},
    }


def delivery_render(
    *, notification: Notification, customer: Customer, channel: str
) -> RenderedMessage | None:
    context = render_context(customer, notification.context)
    escape = channel in HTML_BODY_CHANNELS
    if notification.template_key:
        template = template_find(key=notification.template_key, channel=channel, language=customer.language)
        if template is None:
            return None
        return render_message(
            subject=template.subject,
            body_text=template.body_text,
            body_html=template.body_html,
            context=context,
            escape_body=escape,
        )
    source = notification.context.get("_message", {})
    return render_message(
        subject=source.get("subject", ""),
        body_text=source.get("message", ""),
        body_html="",
        context=context,
        escape_body=escape,
    )


# --- creating --------------------------------------------------------------------------------


def content_hash(channel: str, rendered: RenderedMessage) -> str:
    return hashlib.sha256("\x1f".join([channel, rendered.subject, rendered.body]).encode()).hexdigest()


def _is_duplicate(customer: Customer, channel: str, digest: str) -> bool:
    """The same text went (or is going) to this customer on this channel within the dedup window."""
    since = timezone.now() - timedelta(seconds=settings.NOTIFICATION_DEDUP_WINDOW)
    return (
        Delivery.objects.filter(
            content_hash=digest,
            created_at__gte=since,
            channel=channel,
            notification__customer=customer,
        )
        .exclude(status__in=[DeliveryStatus.SKIPPED, DeliveryStatus.FAILED])
        .exists()
    )


def delivery_build(
    notification: Notification,
    customer: Customer,
    plan: ChannelPlan,
    capped: bool,
    is_duplicate: Callable[[Customer, str, str], bool] = _is_duplicate,
) -> Delivery:
    """An unsaved delivery: rendered and queued, or skipped with its reason."""
    delivery = Delivery(notification=notification, channel=plan.channel, address=plan.address)
    reason = plan.skip_reason or (SkipReason.RATE_LIMITED if capped else "")
    rendered = (
        None
        if reason
        else delivery_render(notification=notification, customer=customer, channel=plan.channel)
    )
    if rendered is None and not reason:
        reason, delivery.last_error = SkipReason.NOT_CONFIGURED, "No template for this channel."
    if rendered is not None:
        delivery.content_hash = content_hash(plan.channel, rendered)
        # Order events are deduplicated by their key; the window is for repeated API sends.
        if notification.event == Event.CUSTOM and is_duplicate(customer, plan.channel, delivery.content_hash):
            reason = SkipReason.DUPLICATE
    if reason or rendered is None:
        delivery.status = DeliveryStatus.SKIPPED
        delivery.skip_reason = reason
        return delivery
    delivery.subject = rendered.subject[:255]
    delivery.body = rendered.body
    delivery.body_plain = rendered.body_plain
    delivery.body_html = rendered.body_html
    now = timezone.now()
    quiet_until = _quiet_until(notification, now, customer)
    if quiet_until is not None:
        # Scheduled, not enqueued: the outbox sweep hands it to the broker once it is due, so a wait
        # of hours never sits in the broker (whose redelivery timeout is shorter).
        delivery.next_attempt_at, delivery.enqueued_at = quiet_until, None
    else:
        delivery.next_attempt_at = now
        delivery.enqueued_at = now  # cleared again if the hand-over fails
    return delivery


# Categories whose messages wait for the end of the customer's quiet hours. Order updates do not:
# they go at once, and Telegram delivers them silently during quiet hours (see delivery_send).
WAITS_FOR_QUIET = {Category.MARKETING}


def _quiet_until(notification: Notification, moment: Any, customer: Customer | None = None) -> Any:
    """When a message of this notification due at `moment` may go instead: the end of the customer's
    quiet hours for categories that wait for it, else None."""
    if notification.category not in WAITS_FOR_QUIET:
        return None
    return (customer or notification.customer).quiet_hours_end_after(moment)


def _over_hourly_cap(notification: Notification, customer: Customer) -> bool:
    """API sends beyond the customer's hourly cap are skipped; order events never are."""
    if notification.event != Event.CUSTOM:
        return False
    since = timezone.now() - timedelta(hours=1)
    recent = Notification.objects.filter(customer=customer, event=Event.CUSTOM, created_at__gte=since)
    return recent.count() > settings.NOTIFICATION_CUSTOMER_HOURLY_CAP


def deliveries_create(*, notification: Notification, customer: Customer, start: int = 0) -> list[Delivery]:
    """Create the deliveries the notification's strategy wants now; enqueue them on commit."""
    strategy = STRATEGIES[notification.strategy]
    plans = strategy.plan(customer, notification.channels, notification.category, start)
    capped = start == 0 and _over_hourly_cap(notification, customer)
    deliveries = Delivery.objects.bulk_create(
        [delivery_build(notification, customer, p, capped) for p in plans]
    )
    deliveries_after_commit(deliveries, priority=notification.priority)
    return deliveries


def deliveries_after_commit(deliveries: list[Delivery], *, priority: str, batch_size: int = 1) -> None:
    """Once committed: count the skipped ones, hand the queued ones to the broker."""
    skipped = [d.channel for d in deliveries if d.status == DeliveryStatus.SKIPPED]
    if skipped:
        transaction.on_commit(lambda: _count_final(skipped, DeliveryStatus.SKIPPED))
    queued = [d for d in deliveries if d.status == DeliveryStatus.QUEUED and d.enqueued_at is not None]
    if queued:
        transaction.on_commit(lambda: deliveries_enqueue(queued, priority=priority, batch_size=batch_size))


def _count_final(channels: list[str], status: str) -> None:
    for channel in channels:
        metrics.DELIVERIES.labels(channel, status).inc()


def _supersede_older_status_notifications(*, order_id: int) -> None:
    """A status notification still waiting when a newer status arrives would tell the customer
    something no longer true ("shipped" after "cancelled"): skip it."""
    stale = Delivery.objects.filter(
        notification__order_id=order_id,
        notification__event=Event.ORDER_STATUS_CHANGED,
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING],
    )
    notification_ids = set(stale.values_list("notification_id", flat=True))
    if not notification_ids:
        return
    stale.update(status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.SUPERSEDED, updated_at=timezone.now())
    notifications_refresh_status(sorted(notification_ids))


@transaction.atomic(savepoint=False)
def notification_create(
    *,
    customer: Customer,
    event: str,
    source: MessageSource,
    category: str = Category.MARKETING,
    context: dict[str, Any] | None = None,
    channels: list[str] | None = None,
    strategy: str = "all",
    priority: str = "normal",
    dedup_key: str | None = None,
    order_id: int | None = None,
    api_key: Any = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
) -> Notification:
    notification = Notification.objects.create(
        customer=customer,
        order_id=order_id,
        event=event,
        category=category,
        template_key=source.template_key,
        context=source.context_for(context),
        channels=candidate_channels(customer, channels),
        strategy=strategy,
        priority=priority,
        dedup_key=dedup_key,
        api_key=api_key,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    deliveries = deliveries_create(notification=notification, customer=customer)
    # No worker can see these deliveries before commit: the status needs no lock here.
    status = STRATEGIES[strategy].status([d.status for d in deliveries])
    if status != notification.status:
        Notification.objects.filter(pk=notification.pk).update(status=status)
        notification.status = status
    transaction.on_commit(lambda: metrics.NOTIFICATIONS.labels(event).inc())
    return notification


def request_fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def notification_send(
    *, api_key: Any, idempotency_key: str | None, customer: Customer, data: dict[str, Any]
) -> tuple[Notification, bool]:
    """An API send; returns (notification, created). A replayed Idempotency-Key returns the first one.

    `data` is the validated request; its fingerprint tells a replay from a reuse with another body.
    """
    fingerprint = request_fingerprint(data)
    if idempotency_key:
        existing = _idempotent_replay(api_key, idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
    source = MessageSource.from_request(data)
    try:
        notification = notification_create(
            customer=customer,
            event=Event.CUSTOM,
            source=source,
            category=data.get("category") or Category.MARKETING,
            context=data.get("context") or {},
            channels=data.get("channels"),
            strategy=data.get("strategy") or "all",
            priority=data.get("priority") or "normal",
            api_key=api_key,
            idempotency_key=idempotency_key or None,
            fingerprint=fingerprint,
        )
    except IntegrityError:
        # A concurrent request with the same key won the insert.
        existing = _idempotent_replay(api_key, idempotency_key or "", fingerprint)
        if existing is None:
            raise
        return existing, False
    return notification, True


def _idempotent_replay(api_key: Any, idempotency_key: str, fingerprint: str) -> Notification | None:
    existing = Notification.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(idempotency_key)
    return existing


def notification_for_order(
    *, customer: Customer, order_id: int, template_key: str, status: str, context: dict[str, Any], event: str
) -> Notification | None:
    """The notification of one order event; a second one with the same dedup key is ignored
    (the unique constraint decides, inside a savepoint, so a replayed event costs no extra query)."""
    dedup_key = f"order:{order_id}:{status}"
    if event == Event.ORDER_STATUS_CHANGED:
        _supersede_older_status_notifications(order_id=order_id)
    try:
        with transaction.atomic():
            return notification_create(
                customer=customer,
                event=event,
                source=MessageSource(template_key=template_key),
                category=Category.ORDER_UPDATES,
                context=context,
                strategy="all",
                priority="high",
                dedup_key=dedup_key,
                order_id=order_id,
            )
    except IntegrityError:
        logger.info("Notification %s exists already; not creating another", dedup_key)
        return None


def notification_refresh_status(notification: Notification) -> None:
    """Derive the notification's status from its deliveries, under a row lock so that two workers
    finishing deliveries of one notification at the same time cannot both write a stale answer."""
    statuses = notifications_refresh_status([notification.pk])
    notification.status = statuses.get(notification.pk, notification.status)


@transaction.atomic(savepoint=False)
def notifications_refresh_status(notification_ids: list[int]) -> dict[int, str]:
    """`notification_refresh_status` for many: a constant handful of queries. Rows are locked in id
    order, so two workers refreshing overlapping sets cannot deadlock."""
    locked = list(
        Notification.objects.select_for_update()
        .filter(pk__in=notification_ids)
        .order_by("pk")
        .values_list("pk", "strategy", "status")
    )
    statuses: dict[int, list[str]] = {pk: [] for pk, _, _ in locked}
    for notification_id, status in Delivery.objects.filter(notification_id__in=statuses).values_list(
        "notification_id", "status"
    ):
        statuses[notification_id].append(status)
    result: dict[int, str] = {}
    changes: dict[str, list[int]] = {}
    for pk, strategy, current in locked:
        result[pk] = STRATEGIES[strategy].status(statuses[pk])
        if result[pk] != current:
            changes.setdefault(result[pk], []).append(pk)
    now = timezone.now()
    for status, pks in changes.items():
        Notification.objects.filter(pk__in=pks).update(status=status, updated_at=now)
    return result


# --- enqueueing and sending ------------------------------------------------------------------

# Redis priority steps: lower is sooner. Order-status notifications go before bulk sends.
TASK_PRIORITY = {"high": 0, "normal": 6}


def deliveries_enqueue(
    deliveries: list[Delivery], *, countdown: float = 0, priority: str = "normal", batch_size: int = 1
) -> None:
    """Hand deliveries to the broker, one task each, or `batch_size` ids per task for bulk work (a
    broadcast, the sweep): publishing is most of the cost of writing a broadcast. Failure is logged,
    not raised: the rows are committed, and the outbox sweep sends them once the broker is back."""
    from apps.notifications.tasks import deliver as deliver_task
    from apps.notifications.tasks import deliver_many as deliver_many_task

    by_channel: dict[str, list[int]] = {}
    for delivery in deliveries:
        by_channel.setdefault(delivery.channel, []).append(delivery.pk)
    failed = []
    for channel, ids in by_channel.items():
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            task = deliver_task if len(batch) == 1 else deliver_many_task
            args: list[Any] = [batch[0]] if len(batch) == 1 else [batch]
            try:
                task.apply_async(
                    args=args,
                    queue=f"notifications.{channel}",
                    countdown=countdown,
                    priority=TASK_PRIORITY.get(priority, 6),
                    retry=False,
                )
            except Exception:  # kombu/redis raise many kinds; any of them means "not enqueued now"
                failed += batch
    if failed:
        logger.warning("Could not enqueue %d deliveries (broker down?); the outbox sweep will", len(failed))
        try:
            Delivery.objects.filter(pk__in=failed).update(enqueued_at=None)
        except DatabaseError:
            logger.warning("Could not mark deliveries for the sweep", exc_info=True)


def _delivery_release(delivery: Delivery, wait: float, reason: str) -> None:
    """Give a claimed delivery back, due again in `wait` seconds; no provider call, so no attempt."""
    now = timezone.now()
    status = DeliveryStatus.RETRYING if delivery.attempts else DeliveryStatus.QUEUED
    due = now + timedelta(seconds=wait)
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        status=status, next_attempt_at=due, claimed_at=None, enqueued_at=now, updated_at=now
    )
    logger.info(
        "delivery %s waits %.2f s: %s",
        delivery.pk,
        wait,
        reason,
        extra={"delivery_id": delivery.pk, "channel": delivery.channel, "wait_seconds": round(wait, 3)},
    )
    metrics.WAITS.labels(delivery.channel, reason.split(" ")[0]).inc()
    deliveries_enqueue([delivery], countdown=wait, priority=delivery.notification.priority)


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2^(attempt-1)))."""
    ceiling = min(
        settings.NOTIFICATION_BACKOFF_CAP, settings.NOTIFICATION_BACKOFF_BASE * 2 ** max(attempt - 1, 0)
    )
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


def _earlier_pending_of_order(delivery: Delivery) -> float:
    """Seconds to wait for an earlier message of the same order on this channel (0: none pending),
    so one order's messages reach the customer in the order its events happened."""
    order_id = delivery.notification.order_id
    if order_id is None:
        return 0.0
    earlier = list(
        Delivery.objects.filter(
            notification__order_id=order_id,
            channel=delivery.channel,
            pk__lt=delivery.pk,
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.SENDING],
        ).values_list("next_attempt_at", flat=True)[:1]
    )
    if not earlier:
        return 0.0
    due_in = (earlier[0] - timezone.now()).total_seconds() if earlier[0] else 0.0
    return max(1.0, due_in)


def _wait_for_rate_limit(channel: Any, address: str) -> float:
    """Take a rate-limit slot, sleeping through short waits; returns a longer wait, or 0 when taken."""
    deadline = time.monotonic() + MAX_INLINE_RATE_WAIT
    while True:
        try:
            wait = channel.reserve(address)
        except RateLimitUnavailable:
            # Without the shared limiter we cannot know the provider's budget: wait, do not guess.
            logger.warning("Rate limiter unavailable (Redis down); delivery waits")
            return RATE_LIMIT_UNAVAILABLE_WAIT
        if wait <= 0:
            return 0.0
        if time.monotonic() + wait > deadline:
            return wait
        time.sleep(wait)


# A worker sleeps through rate-limit waits up to this long; longer ones go back to the broker.
MAX_INLINE_RATE_WAIT = 2.0
RATE_LIMIT_UNAVAILABLE_WAIT = 5.0


def delivery_send(*, delivery_id: int) -> None:
    """One delivery, the task of one order event or API send.

    Claimed before anything else, so a task whose delivery a batch took already costs one query.
    When the delivery was ours and more deliveries of its channel are due behind it (a backlog), they
    are taken along as a batch (`NOTIFICATION_BACKLOG_BATCH`): their own tasks find them sent and end
    at the claim. Celery's per-task cost is then paid once per batch, as for broadcasts.
    """
    delivery = delivery_claim(delivery_id)
    if delivery is None:
        return  # another worker has it, it is finished, or it is not due yet
    delivery.notification = Notification.objects.select_related("customer").get(pk=delivery.notification_id)
    _delivery_attempt(delivery, refresh_status=True)
    if settings.NOTIFICATION_BACKLOG_BATCH > 1:
        backlog = _due_backlog(delivery.channel, settings.NOTIFICATION_BACKLOG_BATCH - 1)
        if backlog:
            deliveries_send(backlog, budget=BACKLOG_SECONDS)


# A task stops taking deliveries from the backlog after this long; the rest have tasks of their own.
BACKLOG_SECONDS = 15.0


def _due_backlog(channel: str, limit: int) -> list[int]:
    """The earliest due deliveries of `channel` waiting to be claimed."""
    return list(
        Delivery.objects.filter(
            channel=channel,
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliveries_send(delivery_ids: list[int], *, budget: float | None = None) -> None:
    """Send deliveries one after the other, each claimed on its own right before its send, so a
    worker that dies mid-batch leaves at most one message in doubt. Stops claiming after `budget`
    seconds (the rest have tasks of their own).

    Work that does not depend on the send is shared by the batch: the notifications and customers
    are read once, and the notifications' statuses are derived once at the end (a crash before that
    leaves a status behind its deliveries, which the outbox sweep corrects).
    """
    deadline = None if budget is None else time.monotonic() + budget
    contexts = {
        d.pk: d.notification
        for d in Delivery.objects.select_related("notification__customer")
        .filter(pk__in=delivery_ids)
        .only("id", "notification")
    }
    touched: set[int] = set()
    try:
        for delivery_id in delivery_ids:
            if deadline is not None and time.monotonic() > deadline:
                break
            notification = contexts.get(delivery_id)
            if notification is None:
                continue
            delivery = delivery_claim(delivery_id)
            if delivery is None:
                continue  # another worker has it, it is finished, or it is not due yet
            delivery.notification = notification
            if _delivery_attempt(delivery, refresh_status=False):
                touched.add(notification.pk)
    finally:
        if touched:
            notifications_refresh_status(sorted(touched))


def delivery_claim(delivery_id: int) -> Delivery | None:
    """Move a due delivery to `sending` with one conditional UPDATE; only the winner may send, and it
    gets the claimed row from the same statement (UPDATE ... RETURNING, on PostgreSQL and SQLite
    alike). None: another worker has it, it is finished, or it is not due yet."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    table = Delivery._meta.db_table
    rows = list(
        Delivery.objects.raw(
            f"UPDATE {table} SET status = %s, claimed_at = %s, updated_at = %s "  # noqa: S608 - no input
            "WHERE id = %s AND status IN (%s, %s) AND (next_attempt_at IS NULL OR next_attempt_at <= %s) "
            "RETURNING *",
            [
                DeliveryStatus.SENDING,
                now,
                now,
                delivery_id,
                DeliveryStatus.QUEUED,
                DeliveryStatus.RETRYING,
                now,
            ],
        )
    )
    return rows[0] if rows else None


def _delivery_attempt(delivery: Delivery, *, refresh_status: bool) -> bool:
    """Wait for order, rate limit and circuit; send outside any transaction; record. True when an
    attempt was recorded (the notification's status may have changed)."""
    notification = delivery.notification
    channel = channel_factory.get(delivery.channel)
    if not channel.is_configured():
        _delivery_finish_skipped(delivery, SkipReason.NOT_CONFIGURED)
        return False
    if wait := _earlier_pending_of_order(delivery):
        _delivery_release(delivery, wait, "an earlier message of the order is pending")
        return False
    breaker = breaker_for(delivery.channel)
    decision = breaker.before_call()
    if not decision.allowed:
        if notification.strategy == "failover" and decision.state == "open":
            _delivery_finish_skipped(delivery, SkipReason.CIRCUIT_OPEN)
        else:
            _delivery_release(delivery, decision.retry_in, f"circuit {decision.state}")
        return False
    # The rate-limit slot is taken last, right before the call, so the time we count is as close as
    # possible to the time the provider counts.
    if wait := _wait_for_rate_limit(channel, delivery.address):
        if decision.state == "half_open":
            breaker.release_probe()
        _delivery_release(delivery, wait, "rate limit")
        return False
    message = OutgoingMessage(
        address=delivery.address,
        subject=delivery.subject,
        body=delivery.body,
        body_plain=delivery.body_plain,
        body_html=delivery.body_html,
        unsubscribe_url=unsubscribe_url(
            customer_id=notification.customer_id, category=notification.category, channel=delivery.channel
        )
        if channel.carries_unsubscribe
        else "",
        silent=notification.customer.quiet_hours_end_after(timezone.now()) is not None,
    )
    started_at, started = timezone.now(), time.perf_counter()
    error: ChannelError | None = None
    provider_id = ""
    try:
        provider_id = channel.send(message)
    except ChannelError as exc:
        error = exc
    except Exception as exc:
        # A bug or an unforeseen library error must not leave the delivery in `sending` for the sweep
        # to hand back again and again: it is an attempt like any other, and the budget ends it.
        logger.exception("delivery %s: unexpected error from the %s channel", delivery.pk, delivery.channel)
        error = TransientError(f"{exc.__class__.__name__}: {exc}", code="internal_error")
    duration_ms = int((time.perf_counter() - started) * 1000)
    if error is not None and error.transient and error.retry_after is None:
        breaker.record_failure()
    elif error is None or not error.transient:
        breaker.record_success()  # the provider answered, even if it refused this message
    _delivery_record(
        delivery,
        started_at=started_at,
        duration_ms=duration_ms,
        provider_id=provider_id,
        error=error,
        refresh_status=refresh_status,
    )
    return True


@transaction.atomic
def _delivery_record(
    delivery: Delivery,
    *,
    started_at: Any,
    duration_ms: int,
    provider_id: str,
    error: ChannelError | None,
    refresh_status: bool = True,
) -> None:
    now = timezone.now()
    delivery.attempts += 1
    attempt = DeliveryAttempt(delivery=delivery, started_at=started_at, duration_ms=duration_ms)
    retry_in: float | None = None
    if error is None:
        attempt.outcome = AttemptOutcome.SENT
        delivery.status = DeliveryStatus.SENT
        delivery.provider_message_id = provider_id[:255]
        delivery.sent_at = now
        delivery.last_error = ""
    else:
        attempt.error_code, attempt.error_text = error.code, str(error)[:2000]
        delivery.last_error = f"{error.code}: {error}"[:2000]
        rate_limited = error.transient and error.retry_after is not None
        if rate_limited:
            delivery.throttled_attempts += 1
        spent = delivery.attempts - delivery.throttled_attempts
        if error.params.get("migrate_to"):
            # The chat moved (group -> supergroup): follow it at once, on the new id.
            customer_change_contact(
                customer_id=delivery.notification.customer_id,
                channel=delivery.channel,
                old=delivery.address,
                new=error.params["migrate_to"],
            )
            delivery.address = error.params["migrate_to"]
            delivery.throttled_attempts += 1  # not the customer's fault: no attempt spent
            attempt.outcome, retry_in = AttemptOutcome.PERMANENT_ERROR, 0.0
        elif error.transient and spent < settings.NOTIFICATION_MAX_ATTEMPTS:
            attempt.outcome = AttemptOutcome.RATE_LIMITED if rate_limited else AttemptOutcome.TRANSIENT_ERROR
            retry_in = error.retry_after if rate_limited else backoff_delay(spent)
        else:
            attempt.outcome = (
                AttemptOutcome.TRANSIENT_ERROR if error.transient else AttemptOutcome.PERMANENT_ERROR
            )
            delivery.status = DeliveryStatus.FAILED
            if error.params.get("unreachable"):
                customer_mark_unreachable(
                    customer_id=delivery.notification.customer_id, channel=delivery.channel
                )
        if retry_in is not None:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
            delivery.enqueued_at = now
            quiet_until = _quiet_until(delivery.notification, delivery.next_attempt_at)
            if quiet_until is not None:
                # A retry that would land in the customer's quiet hours waits for their end, in the
                # outbox like a message created then (the sweep hands it over).
                delivery.next_attempt_at, delivery.enqueued_at = quiet_until, None
    delivery.claimed_at = None
    attempt.save()
    delivery.save(
        update_fields=[
            "status",
            "address",
            "attempts",
            "provider_message_id",
            "sent_at",
            "last_error",
            "throttled_attempts",
            "next_attempt_at",
            "claimed_at",
            "enqueued_at",
            "updated_at",
        ]
    )
    notification = delivery.notification
    transaction.on_commit(lambda: _observe_attempt(delivery, attempt.outcome, retry_in))
    if delivery.status == DeliveryStatus.FAILED:
        _failover(delivery)
    if retry_in is not None and delivery.enqueued_at is not None:
        delay, priority = retry_in, notification.priority
        transaction.on_commit(lambda: deliveries_enqueue([delivery], countdown=delay, priority=priority))
    if refresh_status:
        notification_refresh_status(notification)


def _observe_attempt(delivery: Delivery, outcome: str, retry_in: float | None) -> None:
    """Metrics and the delivery's log line, once its outcome is committed."""
    channel = delivery.channel
    metrics.ATTEMPTS.labels(channel, outcome).inc()
    if retry_in is not None:
        metrics.RETRIES.labels(channel).inc()
    if delivery.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
        metrics.DELIVERIES.labels(channel, delivery.status).inc()
    if delivery.status == DeliveryStatus.FAILED:
        event_bus.publish(
            DeliveryFailed(
                delivery_id=delivery.pk,
                notification_id=delivery.notification_id,
                channel=channel,
                error=delivery.last_error,
                attempts=delivery.attempts,
            )
        )
    if delivery.status == DeliveryStatus.SENT and delivery.sent_at:
        metrics.DELIVERY_LATENCY.labels(channel).observe(
            (delivery.sent_at - delivery.created_at).total_seconds()
        )
    logger.log(
        logging.WARNING if delivery.status == DeliveryStatus.FAILED else logging.INFO,
        "delivery %s %s (%s, attempt %d)",
        delivery.pk,
        delivery.status,
        outcome,
        delivery.attempts,
        extra={
            "delivery_id": delivery.pk,
            "notification_id": delivery.notification_id,
            "channel": channel,
            "status": delivery.status,
            "outcome": outcome,
            "attempts": delivery.attempts,
            "retry_in": retry_in,
            "error": delivery.last_error if delivery.status != DeliveryStatus.SENT else "",
        },
    )


def _failover(delivery: Delivery) -> None:
    notification = delivery.notification
    if notification.strategy != "failover" or delivery.channel not in notification.channels:
        return
    start = notification.channels.index(delivery.channel) + 1
    deliveries_create(notification=notification, customer=notification.customer, start=start)


@transaction.atomic
def _delivery_finish_skipped(delivery: Delivery, reason: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SKIPPED, skip_reason=reason, claimed_at=None, updated_at=timezone.now()
    )
    delivery.status = DeliveryStatus.SKIPPED
    transaction.on_commit(lambda: _count_final([delivery.channel], DeliveryStatus.SKIPPED))
    _failover(delivery)
    notification_refresh_status(delivery.notification)


@transaction.atomic
def _reclaim_abandoned(now: Any) -> int:
    """Deliveries left in `sending` by a worker that died. The provider may have been called, so the
    lost call counts as an attempt (recorded as `worker_lost`): a message that kills its worker every
    time still ends in `failed` instead of circling forever."""
    stuck = list(
        Delivery.objects.select_for_update(skip_locked=True)
        .filter(
            status=DeliveryStatus.SENDING,
            claimed_at__lt=now - timedelta(seconds=settings.NOTIFICATION_SENDING_TIMEOUT),
        )
        .values_list("pk", "claimed_at", "attempts")
    )
    if not stuck:
        return 0
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            delivery_id=pk,
            started_at=claimed_at or now,
            duration_ms=0,
            outcome=AttemptOutcome.TRANSIENT_ERROR,
            error_code="worker_lost",
            error_text="The worker stopped while sending; the outcome is unknown.",
        )
        for pk, claimed_at, _ in stuck
    )
    exhausted = [pk for pk, _, attempts in stuck if attempts + 1 >= settings.NOTIFICATION_MAX_ATTEMPTS]
    common = {"claimed_at": None, "attempts": F("attempts") + 1, "updated_at": now}
    Delivery.objects.filter(pk__in=[pk for pk, _, _ in stuck]).exclude(pk__in=exhausted).update(
        status=DeliveryStatus.RETRYING, next_attempt_at=now, enqueued_at=None, **common
    )
    if exhausted:
        Delivery.objects.filter(pk__in=exhausted).update(
            status=DeliveryStatus.FAILED, last_error="worker_lost: the worker stopped while sending", **common
        )
        lost = list(Delivery.objects.filter(pk__in=exhausted).values_list("pk", "notification_id", "channel"))
        notifications_refresh_status(sorted({notification_id for _, notification_id, _ in lost}))
        events = [
            DeliveryFailed(
                delivery_id=pk,
                notification_id=notification_id,
                channel=channel,
                error="worker_lost: the worker stopped while sending",
                attempts=settings.NOTIFICATION_MAX_ATTEMPTS,
            )
            for pk, notification_id, channel in lost
        ]
        transaction.on_commit(lambda: _publish_all(events))
    return len(stuck)


def _heal_statuses(now: Any) -> int:
    """Notifications still `queued` although none of their deliveries is pending: their worker died
    between recording the last attempt and deriving the status. Derive it now."""
    stale = list(
        Notification.objects.filter(
            status=NotificationStatus.QUEUED,
            updated_at__lt=now - timedelta(seconds=settings.NOTIFICATION_REENQUEUE_AFTER),
        )
        .exclude(deliveries__status__in=PENDING_DELIVERY_STATUSES)
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    if stale:
        notifications_refresh_status(stale)
        logger.warning("Outbox sweep: derived the status of %d notifications again", len(stale))
    return len(stale)


def _publish_all(events: list[DeliveryFailed]) -> None:
    for event in events:
        event_bus.publish(event)


def outbox_sweep() -> dict[str, int]:
    """Recover what the happy path dropped: deliveries stuck in `sending` (their worker died) and due
    deliveries the broker never got or lost. Safe beside running workers: it only re-enqueues, and
    the conditional claim still lets one worker send each delivery."""
    now = timezone.now()
    reclaimed = _reclaim_abandoned(now)
    _heal_statuses(now)
    stale = now - timedelta(seconds=settings.NOTIFICATION_REENQUEUE_AFTER)
    due = list(
        Delivery.objects.filter(
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING], next_attempt_at__lte=now
        )
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale, next_attempt_at__lt=stale))
        .select_related("notification")
        .order_by("next_attempt_at")[:SWEEP_BATCH]
    )
    if due:
        Delivery.objects.filter(pk__in=[d.pk for d in due]).update(enqueued_at=now)
        for priority in ("high", "normal"):
            batch = [d for d in due if d.notification.priority == priority]
            if batch:
                deliveries_enqueue(batch, priority=priority, batch_size=SWEEP_TASK_BATCH)
    if reclaimed or due:
        logger.warning("Outbox sweep: %d stuck deliveries reclaimed, %d re-enqueued", reclaimed, len(due))
    return {"reclaimed": reclaimed, "enqueued": len(due)}


SWEEP_BATCH = 5000
# Deliveries per task when the sweep or a broadcast enqueues many at once.
SWEEP_TASK_BATCH = 20


@transaction.atomic
def deliveries_retry(*, delivery_ids: list[int]) -> int:
    """Put failed deliveries back in the queue (admin action, dead-letter replay)."""
    now = timezone.now()
    ids = list(
        Delivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.FAILED).values_list(
            "pk", flat=True
        )
    )
    Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.QUEUED, attempts=0, throttled_attempts=0, next_attempt_at=now, updated_at=now
    )
    deliveries = list(Delivery.objects.filter(pk__in=ids))
    notifications_refresh_status(sorted({d.notification_id for d in deliveries}))
    transaction.on_commit(lambda: deliveries_enqueue(deliveries))
    return len(ids)


def validate_template_key(key: str) -> None:
    if not NotificationTemplate.objects.filter(key=key).exists():
        raise ValidationError({"template": [f"No template with key '{key}'."]})
