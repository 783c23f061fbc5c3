"""Notification writes: creating notifications with their deliveries (the outbox), and sending one."""

import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.customers.models import Customer
from apps.notifications.channels import ChannelError, OutgoingMessage, channel_factory
from apps.notifications.models import (
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    Notification,
    NotificationTemplate,
    SkipReason,
)
from apps.notifications.rendering import RenderedMessage, render_message
from apps.notifications.strategies import STRATEGIES, ChannelPlan, candidate_channels

logger = logging.getLogger(__name__)

# Channels whose text goes out as HTML (Telegram's parse_mode=HTML): personalised values are escaped.
HTML_BODY_CHANNELS = {"telegram"}


@dataclass(frozen=True)
class MessageSource:
    """What to render: a template key, or an ad-hoc subject and message (templates themselves)."""

    template_key: str = ""
    subject: str = ""
    message: str = ""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


# --- rendering -------------------------------------------------------------------------------


def template_find(*, key: str, channel: str, language: str) -> NotificationTemplate | None:
    candidates = NotificationTemplate.objects.filter(key=key, channel=channel, language__in=[language, "en"])
    by_language = {t.language: t for t in candidates}
    return by_language.get(language) or by_language.get("en")


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


def _delivery_build(notification: Notification, customer: Customer, plan: ChannelPlan) -> Delivery:
    delivery = Delivery(notification=notification, channel=plan.channel, address=plan.address)
    rendered = (
        None
        if plan.skip_reason
        else delivery_render(notification=notification, customer=customer, channel=plan.channel)
    )
    if plan.skip_reason or rendered is None:
        delivery.status = DeliveryStatus.SKIPPED
        delivery.skip_reason = plan.skip_reason or SkipReason.NOT_CONFIGURED
        if rendered is None and not plan.skip_reason:
            delivery.last_error = "No template for this channel."
        return delivery
    delivery.subject = rendered.subject[:255]
    delivery.body = rendered.body
    delivery.body_plain = rendered.body_plain
    delivery.body_html = rendered.body_html
    delivery.next_attempt_at = timezone.now()
    return delivery


def deliveries_create(*, notification: Notification, customer: Customer, start: int = 0) -> list[Delivery]:
    """Create the deliveries the notification's strategy wants now; enqueue them on commit."""
    strategy = STRATEGIES[notification.strategy]
    plans = strategy.plan(customer, notification.channels, start)
    deliveries = Delivery.objects.bulk_create([_delivery_build(notification, customer, p) for p in plans])
    queued = [d for d in deliveries if d.status == DeliveryStatus.QUEUED]
    if queued:
        transaction.on_commit(lambda: deliveries_enqueue(queued))
    return deliveries


@transaction.atomic
def notification_create(
    *,
    customer: Customer,
    event: str,
    source: MessageSource,
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
    full_context = dict(context or {})
    if not source.template_key:
        full_context["_message"] = {"subject": source.subject, "message": source.message}
    notification = Notification.objects.create(
        customer=customer,
        order_id=order_id,
        event=event,
        template_key=source.template_key,
        context=full_context,
        channels=candidate_channels(customer, channels),
        strategy=strategy,
        priority=priority,
        dedup_key=dedup_key,
        api_key=api_key,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    deliveries_create(notification=notification, customer=customer)
    notification_refresh_status(notification)
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
    source = MessageSource(
        template_key=data.get("template") or "",
        subject=data.get("subject") or "",
        message=data.get("message") or "",
    )
    try:
        notification = notification_create(
            customer=customer,
            event=Event.CUSTOM,
            source=source,
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
    *, customer_id: int, order_id: int, template_key: str, status: str, context: dict[str, Any], event: str
) -> Notification | None:
    """The notification of one order event; a second one with the same dedup key is ignored."""
    dedup_key = f"order:{order_id}:{status}"
    if Notification.objects.filter(dedup_key=dedup_key).exists():
        return None
    customer = Customer.objects.get(pk=customer_id)
    try:
        with transaction.atomic():
            return notification_create(
                customer=customer,
                event=event,
                source=MessageSource(template_key=template_key),
                context=context,
                strategy="all",
                dedup_key=dedup_key,
                order_id=order_id,
            )
    except IntegrityError:
        logger.info("Notification %s exists already; not creating another", dedup_key)
        return None


def notification_refresh_status(notification: Notification) -> None:
    """Derive the notification's status from its deliveries, under a row lock so that two workers
    finishing deliveries of one notification at the same time cannot both write a stale answer."""
    locked = Notification.objects.select_for_update().get(pk=notification.pk)
    statuses = list(locked.deliveries.values_list("status", flat=True))
    status = STRATEGIES[locked.strategy].status(statuses)
    if status != locked.status:
        Notification.objects.filter(pk=locked.pk).update(status=status, updated_at=timezone.now())
    notification.status = status


# --- enqueueing and sending ------------------------------------------------------------------


def deliveries_enqueue(deliveries: list[Delivery], countdown: float = 0) -> None:
    """Hand deliveries to the broker. Failure is logged, not raised: the rows are committed, and the
    outbox sweep sends them once the broker is back."""
    from apps.notifications.tasks import deliver as deliver_task

    for delivery in deliveries:
        try:
            deliver_task.apply_async(
                args=[delivery.pk],
                queue=f"notifications.{delivery.channel}",
                countdown=countdown,
                retry=False,
            )
        except Exception:  # kombu/redis raise many kinds; any of them means "not enqueued now"
            logger.warning("Could not enqueue delivery %s; the sweep will retry", delivery.pk, exc_info=True)


def delivery_claim(delivery_id: int) -> bool:
    """Move a due delivery to `sending` with one conditional UPDATE; only the winner may send."""
    now = timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING])
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1, updated_at=now)
    )
    return claimed == 1


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2^(attempt-1)))."""
    ceiling = min(
        settings.NOTIFICATION_BACKOFF_CAP, settings.NOTIFICATION_BACKOFF_BASE * 2 ** max(attempt - 1, 0)
    )
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


def delivery_send(*, delivery_id: int) -> None:
    """Claim, send outside any transaction, then record the attempt and the outcome."""
    if not delivery_claim(delivery_id):
        return  # another worker has it, it is finished, or it is not due yet
    delivery = Delivery.objects.select_related("notification__customer").get(pk=delivery_id)
    channel = channel_factory.get(delivery.channel)
    if not channel.is_configured():
        _delivery_finish_skipped(delivery, SkipReason.NOT_CONFIGURED)
        return
    message = OutgoingMessage(
        address=delivery.address,
        subject=delivery.subject,
        body=delivery.body,
        body_plain=delivery.body_plain,
        body_html=delivery.body_html,
    )
    started_at, started = timezone.now(), time.perf_counter()
    error: ChannelError | None = None
    provider_id = ""
    try:
        provider_id = channel.send(message)
    except ChannelError as exc:
        error = exc
    duration_ms = int((time.perf_counter() - started) * 1000)
    _delivery_record(
        delivery, started_at=started_at, duration_ms=duration_ms, provider_id=provider_id, error=error
    )


@transaction.atomic
def _delivery_record(
    delivery: Delivery, *, started_at: Any, duration_ms: int, provider_id: str, error: ChannelError | None
) -> None:
    now = timezone.now()
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
        if error.transient and spent < settings.NOTIFICATION_MAX_ATTEMPTS:
            attempt.outcome = AttemptOutcome.RATE_LIMITED if rate_limited else AttemptOutcome.TRANSIENT_ERROR
            retry_in = error.retry_after if rate_limited else backoff_delay(spent)
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=retry_in or 0)
        else:
            attempt.outcome = (
                AttemptOutcome.TRANSIENT_ERROR if error.transient else AttemptOutcome.PERMANENT_ERROR
            )
            delivery.status = DeliveryStatus.FAILED
    attempt.save()
    delivery.save(
        update_fields=[
            "status",
            "provider_message_id",
            "sent_at",
            "last_error",
            "throttled_attempts",
            "next_attempt_at",
            "updated_at",
        ]
    )
    notification = delivery.notification
    if delivery.status == DeliveryStatus.FAILED:
        _failover(delivery)
    if retry_in is not None:
        transaction.on_commit(lambda: deliveries_enqueue([delivery], countdown=retry_in or 0))
    notification_refresh_status(notification)


def _failover(delivery: Delivery) -> None:
    notification = delivery.notification
    if notification.strategy != "failover" or delivery.channel not in notification.channels:
        return
    start = notification.channels.index(delivery.channel) + 1
    deliveries_create(notification=notification, customer=notification.customer, start=start)


@transaction.atomic
def _delivery_finish_skipped(delivery: Delivery, reason: str) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SKIPPED,
        skip_reason=reason,
        attempts=F("attempts") - 1,
        updated_at=timezone.now(),
    )
    delivery.status = DeliveryStatus.SKIPPED
    _failover(delivery)
    notification_refresh_status(delivery.notification)


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
    for notification_id in {d.notification_id for d in deliveries}:
        notification_refresh_status(Notification(pk=notification_id))
    transaction.on_commit(lambda: deliveries_enqueue(deliveries))
    return len(ids)


def validate_template_key(key: str) -> None:
    if not NotificationTemplate.objects.filter(key=key).exists():
        raise ValidationError({"template": [f"No template with key '{key}'."]})
