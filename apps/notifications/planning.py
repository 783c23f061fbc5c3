"""Planning: which notifications and deliveries an event or an API send creates, rendered and ready in
the outbox (dedup, idempotency, hourly cap, strategy, quiet hours, superseding of stale order
updates). Everything here runs inside the caller's transaction; the channels' drains are woken once it
commits (dispatch)."""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.customers.models import Category, Customer
from apps.notifications import dispatch, metrics
from apps.notifications.dedup import send_checks
from apps.notifications.digests import digest_holds, digest_wanted
from apps.notifications.events import deliveries_finished
from apps.notifications.models import (
    WAITING_DELIVERY_STATUSES,
    Delivery,
    DeliveryStatus,
    Event,
    Notification,
    NotificationTemplate,
    Priority,
    SkipReason,
    Strategy,
    delivery_priority,
)
from apps.notifications.outbox.policy import quiet_until
from apps.notifications.rendering import RenderedMessage, TemplateLimit, render_message
from apps.notifications.status import (
    FINAL,
    notifications_completed,
    notifications_refresh_status,
    scheduled_or,
)
from apps.notifications.strategies import STRATEGIES, ChannelPlan, candidate_channels
from apps.notifications.templates_cache import template_find
from core.logging import request_id_var
from core.utils.bulk import insert_with_children
from core.utils.prefetch import with_prefetched
from core.wake import MAX_TIMER

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


class TemplateOverBudget(Exception):
    """A send's template went over the rendering budget with the customer's context."""


# --- rendering -------------------------------------------------------------------------------


def render_context(customer: Customer | None, context: dict[str, Any]) -> dict[str, Any]:
    """What a template sees: the send's context and the customer (empty for a preview without one)."""
    if customer is None:
        return {**context, "customer": {}}
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


def delivery_build(
    notification: Notification,
    customer: Customer,
    plan: ChannelPlan,
    capped: bool,
    is_duplicate: Callable[[Customer, str, str], bool] | None = None,
) -> Delivery:
    """An unsaved delivery: rendered and queued, or skipped with its reason."""
    delivery = Delivery(
        notification=notification,
        channel=plan.channel,
        address=plan.address,
        priority=delivery_priority(notification.priority),
    )
    reason = plan.skip_reason or (SkipReason.RATE_LIMITED if capped else "")
    try:
        rendered = (
            None
            if reason
            else delivery_render(notification=notification, customer=customer, channel=plan.channel)
        )
    except TemplateLimit as exc:
        # A stored template over the rendering budget fails this delivery; the worker goes on.
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = f"{TemplateLimit.reason}: the template {exc}"
        return delivery
    if rendered is None and not reason:
        reason, delivery.last_error = SkipReason.NOT_CONFIGURED, "No template for this channel."
    if rendered is not None:
        delivery.content_hash = content_hash(plan.channel, rendered)
        # Order events are deduplicated by their key; the window is for repeated API sends.
        duplicate = is_duplicate is not None and notification.event == Event.CUSTOM
        if duplicate and is_duplicate(customer, plan.channel, delivery.content_hash):  # type: ignore[misc]
            reason = SkipReason.DUPLICATE
    if reason or rendered is None:
        delivery.status = DeliveryStatus.SKIPPED
        delivery.skip_reason = reason
        return delivery
    delivery.subject = rendered.subject[:255]
    delivery.body = rendered.body
    delivery.body_plain = rendered.body_plain
    delivery.body_html = rendered.body_html
    # A scheduled message is due at its send_at; marketing in the customer's quiet hours (then) is
    # due when they end. The outbox sweep wakes the channel, so a wait of hours never sits in the broker.
    due = notification.send_at or timezone.now()
    delivery.send_at = notification.send_at
    delivery.next_attempt_at = quiet_until(notification, due, customer, channel=plan.channel) or due
    return delivery


def deliveries_plan(*, notification: Notification, customer: Customer, start: int = 0) -> list[Delivery]:
    """The deliveries the notification's strategy wants now (unsaved): rendered and queued, or
    skipped with their reason. A new API send is checked against the customer's hourly cap and the
    dedup window in one query (sends.send_checks)."""
    strategy = STRATEGIES[notification.strategy]
    plans = strategy.plan(customer, notification.channels, notification.category, start)
    deliveries = [delivery_build(notification, customer, p, capped=False) for p in plans]
    if start == 0 and notification.event == Event.CUSTOM:
        send_checks(customer, deliveries)
    return deliveries


def deliveries_create(*, notification: Notification, customer: Customer, start: int = 0) -> list[Delivery]:
    """Create the deliveries of a saved notification from `start` (failover); enqueue them on commit."""
    planned = deliveries_plan(notification=notification, customer=customer, start=start)
    digest_holds(customer, notification, planned)
    deliveries = Delivery.objects.bulk_create(planned)
    deliveries_finished(deliveries)  # those skipped at once (opted out, duplicate, ...)
    deliveries_after_commit(deliveries, priority=notification.priority)
    return deliveries


def deliveries_after_commit(deliveries: list[Delivery], *, priority: str) -> None:
    """Once committed: count the skipped ones, wake the drains of the channels with work due now."""
    skipped = [d.channel for d in deliveries if d.status == DeliveryStatus.SKIPPED]
    if skipped:
        transaction.on_commit(lambda: _count_final(skipped, DeliveryStatus.SKIPPED))
    now = timezone.now()
    waiting = [d for d in deliveries if d.status == DeliveryStatus.QUEUED and d.next_attempt_at is not None]
    due = {d.channel for d in waiting if d.next_attempt_at <= now}  # type: ignore[operator]
    if due:
        dispatch.outbox_wake_on_commit(due, priority=priority)
    horizon = now + timedelta(seconds=MAX_TIMER)
    later: dict[str, datetime] = {}
    for delivery in waiting:
        due_at: datetime = delivery.next_attempt_at  # type: ignore[assignment]
        if now < due_at <= horizon:
            later[delivery.channel] = min(due_at, later.get(delivery.channel, due_at))
    for channel, due_at in later.items():
        # Due within a minute (scheduled, held for a digest, quiet hours ending): a timer wake, its
        # countdown read at commit so that the wakes of one moment share one task. Later ones are
        # woken by the sweep (outbox.sweep) when they come within a minute.
        transaction.on_commit(lambda c=channel, d=due_at: _wake_at(c, d))  # type: ignore[misc]


def _wake_at(channel: str, due_at: datetime) -> None:
    dispatch.outbox_wake([channel], countdown=max((due_at - timezone.now()).total_seconds(), 0.0))


def _count_final(channels: list[str], status: str) -> None:
    for channel in channels:
        metrics.DELIVERIES.labels(channel, status).inc()


def notifications_supersede(*, order_ids: list[int]) -> None:
    """A status notification still waiting when a newer status of its order arrives would tell the
    customer something no longer true ("shipped" after "cancelled"): skip it."""
    stale = list(
        Delivery.objects.filter(
            notification__order_id__in=order_ids,
            notification__event=Event.ORDER_STATUS_CHANGED,
            status__in=WAITING_DELIVERY_STATUSES,
        )
        .select_related("notification")
        .select_for_update(of=("self",))  # a drain's claim skips them until this commits
    )
    if not stale:
        return
    now = timezone.now()
    Delivery.objects.filter(pk__in=[d.pk for d in stale]).update(
        status=DeliveryStatus.SKIPPED, skip_reason=SkipReason.SUPERSEDED, updated_at=now
    )
    for delivery in stale:
        delivery.status, delivery.skip_reason, delivery.updated_at = (
            DeliveryStatus.SKIPPED,
            SkipReason.SUPERSEDED,
            now,
        )
    deliveries_finished(stale)
    notifications_refresh_status(sorted({d.notification_id for d in stale}))


def notification_create(
    *,
    customer: Customer,
    event: str,
    source: MessageSource,
    category: str = Category.MARKETING,
    context: dict[str, Any] | None = None,
    channels: list[str] | None = None,
    strategy: str = Strategy.ALL,
    priority: str = Priority.NORMAL,
    dedup_key: str | None = None,
    order_id: int | None = None,
    api_key: Any = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    refuse_over_budget: bool = False,
    send_at: datetime | None = None,
    cancellation_key: str = "",
) -> Notification:
    """A notification and its deliveries. `refuse_over_budget` (an API send): a template over the
    rendering budget raises TemplateOverBudget, and nothing is written. `send_at`: scheduled (its
    deliveries wait in the outbox until then)."""
    notification = Notification(
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
        request_id=_request_id(),
        send_at=send_at,
        cancellation_key=cancellation_key,
    )
    deliveries = deliveries_plan(notification=notification, customer=customer)
    over = [d for d in deliveries if d.last_error.startswith(TemplateLimit.reason)]
    if refuse_over_budget and over:
        raise TemplateOverBudget(over[0].last_error.split(": ", 1)[1])
    # No worker can see these deliveries before commit: the status needs no lock.
    notification.status = scheduled_or(STRATEGIES[strategy].status([d.status for d in deliveries]), send_at)
    final_at_once = any(d.status == DeliveryStatus.SKIPPED for d in deliveries)
    digest = digest_wanted(customer, notification, deliveries)
    if final_at_once or digest or connection.vendor != "postgresql":
        # What subscribers write for skipped deliveries (webhook events) commits with the rows; a
        # digest window stays locked until the deliveries held for it are in.
        with transaction.atomic(savepoint=False):
            digest_holds(customer, notification, deliveries)
            _notification_insert(notification, deliveries)
    else:
        # One statement on PostgreSQL, atomic by itself: alone (an API send) it needs no transaction.
        insert_with_children(notification, deliveries, fk="notification")
        _after_insert(notification, deliveries)
    transaction.on_commit(lambda: metrics.NOTIFICATIONS.labels(event).inc())
    return notification


def _notification_insert(notification: Notification, deliveries: list[Delivery]) -> None:
    insert_with_children(notification, deliveries, fk="notification")
    deliveries_finished(deliveries)  # those skipped at once (opted out, duplicate, ...)
    if notification.status in FINAL:
        notifications_completed([notification.pk])  # nothing to send: final at once
    _after_insert(notification, deliveries)


def _after_insert(notification: Notification, deliveries: list[Delivery]) -> None:
    with_prefetched(notification, deliveries=deliveries)  # the caller answers with them, no query
    deliveries_after_commit(deliveries, priority=notification.priority)


def _request_id() -> str:
    """The X-Request-ID of the request (or task) at work, "" outside one."""
    value = request_id_var.get()
    return "" if value == "-" else value


def notification_for_order(
    *, customer: Customer, order_id: int, template_key: str, status: str, context: dict[str, Any], event: str
) -> Notification | None:
    """The notification of one order event; a second one with the same dedup key is ignored
    (the unique constraint decides, inside a savepoint, so a replayed event costs no extra query)."""
    dedup_key = f"order:{order_id}:{status}"

    def create() -> Notification:
        return notification_create(
            customer=customer,
            event=event,
            source=MessageSource(template_key=template_key),
            category=Category.ORDER_UPDATES,
            context=context,
            strategy=Strategy.ALL,
            priority=Priority.HIGH,
            dedup_key=dedup_key,
            order_id=order_id,
        )

    if event == Event.ORDER_CREATED:
        return create()  # the order is new in this transaction: nothing can hold its key yet
    notifications_supersede(order_ids=[order_id])
    try:
        with transaction.atomic():
            return create()
    except IntegrityError:
        logger.info("Notification %s exists already; not creating another", dedup_key)
        return None


def deliveries_failover(deliveries: list[Delivery]) -> None:
    """Deliveries that ended failed or skipped mid-way: a failover notification tries its next channel."""
    for delivery in deliveries:
        notification = delivery.notification
        if notification.strategy != Strategy.FAILOVER or delivery.channel not in notification.channels:
            continue
        start = notification.channels.index(delivery.channel) + 1
        deliveries_create(notification=notification, customer=notification.customer, start=start)


def validate_template_key(key: str) -> None:
    if not NotificationTemplate.objects.filter(key=key).exists():
        raise ValidationError({"template": [f"No template with key '{key}'."]})
