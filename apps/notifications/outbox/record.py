"""Recording outcomes in bulk: attempt rows, delivery rows and notification statuses of many
deliveries in a constant number of statements, in one transaction; metrics, logs and events once it
is committed. Also the two other ways a claimed delivery leaves `sending`: it is given back to wait
(no provider call, so no attempt), or skipped."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.customers.services import customer_change_contact, customer_mark_unreachable
from apps.notifications import metrics
from apps.notifications.channels import ChannelError
from apps.notifications.channels.base import Hop
from apps.notifications.digests import digests_settle
from apps.notifications.events import DeliveryFailed, deliveries_finished
from apps.notifications.models import AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, Event
from apps.notifications.outbox.policy import Verdict, attempt_verdict
from apps.notifications.planning import deliveries_failover
from apps.notifications.status import notifications_refresh_status
from apps.notifications.suppressions import suppressions_add
from core.patterns.observer import event_bus
from core.utils.bulk import bulk_insert, bulk_write

logger = logging.getLogger(__name__)

RECORDED_FIELDS = [
    "status",
    "address",
    "attempts",
    "throttled_attempts",
    "provider_message_id",
    "provider",
    "sent_at",
    "last_error",
    "next_attempt_at",
    "claimed_at",
    "updated_at",
]


ATTEMPT_FIELDS = ["delivery", "provider", "started_at", "duration_ms", "outcome", "error_code", "error_text"]


@dataclass
class Outcome:
    """One provider call: the delivery it was for, when it started, how long it took, what came back."""

    delivery: Delivery
    started_at: datetime
    duration_ms: int
    provider_id: str
    error: ChannelError | None
    # The provider that answered (email), and those the message moved on from before it.
    provider: str = ""
    hops: tuple[Hop, ...] = ()


@dataclass
class Summary:
    sent: int = 0
    failed: int = 0
    next_due_in: float | None = None


@transaction.atomic
def outcomes_record(outcomes: list[Outcome]) -> Summary:
    """Attempts in one INSERT, deliveries in one UPDATE, statuses in one pass; then failover for what
    failed, and metrics, logs, events and retry wakes after commit."""
    now = timezone.now()
    summary = Summary()
    attempts: list[DeliveryAttempt] = []
    verdicts: list[Verdict] = []
    for outcome in outcomes:
        delivery, error = outcome.delivery, outcome.error
        verdict = attempt_verdict(delivery, error, now=now)
        delivery.updated_at = now
        if outcome.provider:
            delivery.provider = outcome.provider
        attempts.extend(
            DeliveryAttempt(
                delivery=delivery,
                provider=hop.provider,
                started_at=hop.started_at,
                duration_ms=hop.duration_ms,
                outcome=AttemptOutcome.TRANSIENT_ERROR,
                error_code=hop.error.code,
                error_text=f"{hop.error} (moved on to the next provider)"[:2000],
            )
            for hop in outcome.hops
        )
        if error is None:
            delivery.provider_message_id = outcome.provider_id[:255]
            summary.sent += 1
        elif delivery.status == DeliveryStatus.FAILED:
            summary.failed += 1
        attempts.append(
            DeliveryAttempt(
                delivery=delivery,
                provider=outcome.provider,
                # After the providers it moved on from, the call that answered.
                started_at=_answered_at(outcome),
                duration_ms=max(0, outcome.duration_ms - sum(h.duration_ms for h in outcome.hops)),
                outcome=verdict.outcome,
                error_code=error.code if error else "",
                error_text=str(error)[:2000] if error else "",
            )
        )
        verdicts.append(verdict)
        if verdict.retry_in is not None and delivery.next_attempt_at is not None:
            due = max(0.0, (delivery.next_attempt_at - now) / timedelta(seconds=1))
            summary.next_due_in = due if summary.next_due_in is None else min(summary.next_due_in, due)
    bulk_insert(DeliveryAttempt, attempts, ATTEMPT_FIELDS)
    deliveries = [o.delivery for o in outcomes]
    bulk_write(Delivery, deliveries, RECORDED_FIELDS)
    for delivery, verdict in zip(deliveries, verdicts, strict=True):
        _contact_effects(delivery, verdict)
    suppressions_add(
        [
            (o.delivery.channel, o.delivery.address, o.error.params["suppress"], o.delivery.pk)
            for o in outcomes
            if o.error is not None and o.error.params.get("suppress")
        ]
    )
    failed = [d for d in deliveries if d.status == DeliveryStatus.FAILED]
    if failed:
        deliveries_failover(failed)
    deliveries_finished(deliveries)
    _digests_settle(deliveries)
    notifications_refresh_status(sorted({d.notification_id for d in deliveries}))
    transaction.on_commit(lambda: _observe(deliveries, verdicts))
    moved_on = [hop.provider for o in outcomes for hop in o.hops]
    if moved_on:
        transaction.on_commit(lambda: _count_moved_on(moved_on))
    return summary


def _answered_at(outcome: Outcome) -> datetime:
    """When the call that answered started: after the providers the message moved on from."""
    if not outcome.hops:
        return outcome.started_at
    last = outcome.hops[-1]
    return max(outcome.started_at, last.started_at + timedelta(milliseconds=last.duration_ms))


def _count_moved_on(providers: list[str]) -> None:
    for provider in providers:
        metrics.PROVIDER_CALLS.labels(provider, AttemptOutcome.TRANSIENT_ERROR).inc()


def _digests_settle(deliveries: list[Delivery]) -> None:
    """Digests among them (known from the notifications the drain loaded): what they cover follows."""
    digests = [d for d in deliveries if d.notification.event == Event.DIGEST]
    if digests:
        digests_settle(digests)


def _contact_effects(delivery: Delivery, verdict: Verdict) -> None:
    customer_id = delivery.notification.customer_id
    if verdict.migrate_to:
        customer_change_contact(
            customer_id=customer_id,
            channel=delivery.channel,
            old=verdict.migrate_from,
            new=verdict.migrate_to,
        )
    if verdict.unreachable:
        customer_mark_unreachable(customer_id=customer_id, channel=delivery.channel)


@transaction.atomic
def deliveries_release(held: dict[int, tuple[Delivery, float]], *, reason: str) -> None:
    """Give claimed deliveries back, each due again after its wait; no provider call, so no attempt."""
    now = timezone.now()
    deliveries = []
    for delivery, wait in held.values():
        delivery.status = DeliveryStatus.RETRYING if delivery.attempts else DeliveryStatus.QUEUED
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.claimed_at = None
        delivery.updated_at = now
        deliveries.append(delivery)
    bulk_write(Delivery, deliveries, ["status", "next_attempt_at", "claimed_at", "updated_at"])
    channel = deliveries[0].channel
    waits = [wait for _, wait in held.values()]
    logger.info(
        "%d %s deliveries wait %.2f-%.2f s: %s",
        len(deliveries),
        channel,
        min(waits),
        max(waits),
        reason,
        extra={"channel": channel, "deliveries": len(deliveries), "reason": reason},
    )
    metrics.WAITS.labels(channel, reason.split(" ")[0]).inc(len(deliveries))


@transaction.atomic
def deliveries_skip(deliveries: list[Delivery], reason: str) -> None:
    """Claimed deliveries that will not be sent (channel not configured, failover past an open circuit)."""
    now = timezone.now()
    for delivery in deliveries:
        delivery.status, delivery.skip_reason, delivery.claimed_at, delivery.updated_at = (
            DeliveryStatus.SKIPPED,
            reason,
            None,
            now,
        )
    bulk_write(Delivery, deliveries, ["status", "skip_reason", "claimed_at", "updated_at"])
    deliveries_failover(deliveries)
    deliveries_finished(deliveries)
    _digests_settle(deliveries)
    notifications_refresh_status(sorted({d.notification_id for d in deliveries}))
    channels = [d.channel for d in deliveries]
    transaction.on_commit(lambda: _count(channels, DeliveryStatus.SKIPPED))


def _count(channels: list[str], status: str) -> None:
    for channel in channels:
        metrics.DELIVERIES.labels(channel, status).inc()


def _observe(deliveries: list[Delivery], verdicts: list[Verdict]) -> None:
    """Metrics, the delivery's log line and DeliveryFailed events, once the outcome is committed."""
    for delivery, verdict in zip(deliveries, verdicts, strict=True):
        channel = delivery.channel
        metrics.ATTEMPTS.labels(channel, verdict.outcome).inc()
        if delivery.provider:
            metrics.PROVIDER_CALLS.labels(delivery.provider, verdict.outcome).inc()
        if verdict.retry_in is not None:
            metrics.RETRIES.labels(channel).inc()
        if delivery.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            metrics.DELIVERIES.labels(channel, delivery.status).inc()
        if delivery.status == DeliveryStatus.SENT and delivery.sent_at:
            metrics.DELIVERY_LATENCY.labels(channel).observe(
                (delivery.sent_at - delivery.created_at).total_seconds()
            )
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
        logger.log(
            logging.WARNING if delivery.status == DeliveryStatus.FAILED else logging.INFO,
            "delivery %s %s (%s, attempt %d)",
            delivery.pk,
            delivery.status,
            verdict.outcome,
            delivery.attempts,
            extra={
                # A drain serves many requests: each line names the one that caused its message.
                "request_id": delivery.notification.request_id or "-",
                "delivery_id": delivery.pk,
                "notification_id": delivery.notification_id,
                "channel": channel,
                "status": delivery.status,
                "outcome": verdict.outcome,
                "attempts": delivery.attempts,
                "retry_in": verdict.retry_in,
                "error": delivery.last_error if delivery.status != DeliveryStatus.SENT else "",
            },
        )
