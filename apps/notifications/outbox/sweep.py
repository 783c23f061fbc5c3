"""Recovery: what the happy path dropped. Deliveries whose claim's lease ran out because their drain
died are given back (the lost call counts as an attempt), so are order events a dead planner held,
notification statuses a dead worker left behind are derived again, and the planner and every channel
with due work are woken, so a lost wake or a broker that lost its
queue delays deliveries by at most NOTIFICATION_SWEEP_INTERVAL. Also the replay of dead letters."""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min
from django.utils import timezone

from apps.notifications import dispatch
from apps.notifications.digests import digests_settle_missed
from apps.notifications.events import DeliveryFailed
from apps.notifications.models import (
    PENDING_DELIVERY_STATUSES,
    AttemptOutcome,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationStatus,
    ProviderEvent,
)
from apps.notifications.outbox.planner import events_reclaim_expired
from apps.notifications.status import notifications_refresh_status
from apps.orders.models import OrderEvent
from core.outbox.claim import rows_expired
from core.outbox.drain import MIN_WAIT
from core.patterns.observer import event_bus
from core.wake import MAX_TIMER

logger = logging.getLogger(__name__)

SWEEP_BATCH = 5000


@transaction.atomic
def deliveries_reclaim_expired(*, channel: str | None = None) -> int:
    """Deliveries left in `sending` by a drain that died: their lease ran out (core.outbox.lease).
    The provider may have been called, so the lost call counts as an attempt (recorded as
    `worker_lost`): a message that kills its worker every time still ends in `failed` instead of
    circling forever. Called by a drain that finds one of its channel's leases ran out, and by the sweep."""
    now = timezone.now()
    stuck = rows_expired(
        Delivery,
        sending=DeliveryStatus.SENDING,
        now=now,
        columns=("id", "claimed_at", "attempts"),
        where="AND c.channel = %(channel)s" if channel else "",
        params={"channel": channel} if channel else None,
        limit=SWEEP_BATCH,
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
        status=DeliveryStatus.RETRYING, next_attempt_at=now, **common
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
    logger.warning(
        "%d deliveries reclaimed: their drain stopped while sending", len(stuck), extra={"channel": channel}
    )
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


def _wake_when_leases_end(now: Any) -> None:
    """A timer wake for each channel whose claims' leases run out soon: a drain that died holding
    the channel's last deliveries would otherwise wait for the next sweep to have them taken back."""
    leases = (
        Delivery.objects.filter(status=DeliveryStatus.SENDING, lease_until__isnull=False)
        .values("channel")
        .annotate(first=Min("lease_until"))
    )
    for row in leases:
        wait = (row["first"] - now).total_seconds()
        if 0 < wait <= MAX_TIMER:
            dispatch.outbox_wake([row["channel"]], countdown=wait + MIN_WAIT)


def _wake_when_due_soon(now: Any) -> None:
    """A timer wake for each channel whose next waiting delivery comes due within MAX_TIMER (a
    scheduled send, the end of quiet hours, a long backoff): it goes out on time, not at the next
    sweep after its time."""
    upcoming = (
        Delivery.objects.waiting()
        .filter(next_attempt_at__gt=now, next_attempt_at__lte=now + timedelta(seconds=MAX_TIMER))
        .values("channel")
        .annotate(first=Min("next_attempt_at"))
    )
    for row in upcoming:
        dispatch.outbox_wake([row["channel"]], countdown=(row["first"] - now).total_seconds())


def _publish_all(events: list[DeliveryFailed]) -> None:
    for event in events:
        event_bus.publish(event)


def outbox_sweep() -> dict[str, int]:
    """Safe beside running workers: it gives back only claims whose lease ran out, and waking a
    channel whose drain runs already costs at most one empty task."""
    reclaimed = deliveries_reclaim_expired()
    events_reclaim_expired()
    now = timezone.now()
    _heal_statuses(now)
    digests_settle_missed()
    if OrderEvent.objects.due(now).exists():
        dispatch.events_wake()
    if ProviderEvent.objects.filter(applied_at=None).exists():
        dispatch.provider_events_wake()  # tracking events whose wake was lost
    channels = sorted(set(Delivery.objects.due(now).values_list("channel", flat=True).distinct()))
    if channels:
        dispatch.outbox_wake(channels)
    _wake_when_leases_end(now)
    _wake_when_due_soon(now)
    return {"reclaimed": reclaimed, "woken": len(channels)}


@transaction.atomic
def deliveries_retry(*, delivery_ids: list[int]) -> int:
    """Put failed deliveries back in the outbox (admin action, dead-letter replay)."""
    now = timezone.now()
    ids = list(
        Delivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.FAILED).values_list(
            "pk", flat=True
        )
    )
    Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.QUEUED, attempts=0, throttled_attempts=0, next_attempt_at=now, updated_at=now
    )
    found = list(Delivery.objects.filter(pk__in=ids).values_list("notification_id", "channel"))
    notifications_refresh_status(sorted({notification_id for notification_id, _ in found}))
    channels = {channel for _, channel in found}
    transaction.on_commit(lambda: dispatch.outbox_wake(channels))
    return len(ids)
