"""Retry policy: what an attempt's outcome makes of a delivery (sent, retry when, failed), backoff with
full jitter, and the quiet-hours rule for retries. Pure functions of the delivery and the outcome."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from apps.customers.models import Category, Customer
from apps.notifications.channels import ChannelError, channel_factory
from apps.notifications.models import AttemptOutcome, Delivery, DeliveryStatus, Notification
from core.outbox.backoff import backoff_delay as backoff

# Categories whose messages wait for the end of the customer's quiet hours. Order updates do not:
# they go at once, and Telegram delivers them silently during quiet hours.
WAITS_FOR_QUIET = {Category.MARKETING}


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2^(attempt-1)))."""
    return backoff(attempt, base=settings.NOTIFICATION_BACKOFF_BASE, cap=settings.NOTIFICATION_BACKOFF_CAP)


def quiet_until(
    notification: Notification, moment: datetime, customer: Customer | None = None, *, channel: str = ""
) -> Any:
    """When a message of this notification due at `moment` may go instead: the end of the customer's
    quiet hours for categories that wait for it, else None. A channel that makes no sound (the in-app
    inbox) never waits."""
    if notification.category not in WAITS_FOR_QUIET:
        return None
    if channel in channel_factory.names() and channel_factory.get(channel).soundless:
        return None
    return (customer or notification.customer).quiet_hours_end_after(moment)


@dataclass
class Verdict:
    """What one attempt makes of its delivery (applied by outbox.record)."""

    outcome: str
    retry_in: float | None = None
    # Side effects the record step carries out in the same transaction.
    migrate_from: str = ""
    migrate_to: str = ""
    unreachable: bool = False


def attempt_verdict(delivery: Delivery, error: ChannelError | None, *, now: datetime) -> Verdict:
    """Apply one provider call's outcome to `delivery` (in memory): attempts, status, due time, error.

    Transient errors retry with backoff up to NOTIFICATION_MAX_ATTEMPTS; a provider 429 retries after
    its retry_after and spends no attempt; a moved chat is followed at once; anything else fails.
    """
    delivery.attempts += 1
    delivery.claimed_at = None
    if error is None:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        delivery.last_error = ""
        return Verdict(AttemptOutcome.SENT)
    delivery.last_error = f"{error.code}: {error}"[:2000]
    rate_limited = error.transient and error.retry_after is not None
    if rate_limited:
        delivery.throttled_attempts += 1
    spent = delivery.attempts - delivery.throttled_attempts
    verdict = Verdict(AttemptOutcome.PERMANENT_ERROR)
    if error.params.get("migrate_to"):
        # The chat moved (group -> supergroup): follow it at once, on the new id.
        verdict.migrate_from, verdict.migrate_to = delivery.address, str(error.params["migrate_to"])
        delivery.address = verdict.migrate_to
        delivery.throttled_attempts += 1  # not the customer's fault: no attempt spent
        verdict.retry_in = 0.0
    elif error.transient and spent < settings.NOTIFICATION_MAX_ATTEMPTS:
        verdict.outcome = AttemptOutcome.RATE_LIMITED if rate_limited else AttemptOutcome.TRANSIENT_ERROR
        verdict.retry_in = error.retry_after if rate_limited else backoff_delay(spent)
    else:
        verdict.outcome = (
            AttemptOutcome.TRANSIENT_ERROR if error.transient else AttemptOutcome.PERMANENT_ERROR
        )
        delivery.status = DeliveryStatus.FAILED
        verdict.unreachable = bool(error.params.get("unreachable"))
    if verdict.retry_in is not None:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=verdict.retry_in)
        # A retry that would land in the customer's quiet hours waits for their end.
        later = quiet_until(delivery.notification, delivery.next_attempt_at, channel=delivery.channel)
        if later is not None:
            delivery.next_attempt_at = later
    return verdict
