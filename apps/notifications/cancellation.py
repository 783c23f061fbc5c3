"""Cancelling notifications: every delivery not yet handed to a provider stops.

A delivery can be cancelled while it waits in the outbox (`queued`, including a scheduled one, or
`retrying`); one a drain has claimed (`sending`) goes out. The cancel is one conditional UPDATE on
the waiting rows, and a drain's claim is a conditional UPDATE too (core.outbox.claim), so on the
database each delivery is either claimed or cancelled, never both: whichever locks the row first
wins, and the other sees the row no longer waiting.

A cancelled delivery fires no webhook event of its own (there is no `delivery.cancelled` type); the
notification's `notification.completed` carries status `cancelled`.
"""

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.notifications import metrics
from apps.notifications.digests import digests_settle
from apps.notifications.models import WAITING_DELIVERY_STATUSES, Delivery, DeliveryStatus, Event, Notification
from apps.notifications.status import notifications_refresh_status

# A cancellation by key touches at most this many notifications per call (the answer says how many).
CANCEL_BATCH = 10_000


class NothingToCancel(Exception):
    """Every delivery of the notification was already handed to a provider or is final."""


@dataclass(frozen=True)
class Cancelled:
    notifications: int
    deliveries: int


@transaction.atomic
def notifications_cancel(notification_ids: list[int]) -> Cancelled:
    """Cancel what still waits of these notifications; their statuses are derived again (a
    notification with nothing left to send becomes `cancelled`, and `notification.completed` fires)."""
    if not notification_ids:
        return Cancelled(0, 0)
    now = timezone.now()
    stopped = list(
        Delivery.objects.filter(notification_id__in=notification_ids, status__in=WAITING_DELIVERY_STATUSES)
        # Covered by a digest already made (held, no due time): the digest carries them now.
        .exclude(digest_window__isnull=False, next_attempt_at__isnull=True)
        .select_related("notification")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    # Re-checked under the lock: a drain that claimed a row first has made it `sending` by now.
    stopped = [d for d in stopped if d.status in WAITING_DELIVERY_STATUSES]
    if not stopped:
        return Cancelled(0, 0)
    Delivery.objects.filter(pk__in=[d.pk for d in stopped]).update(
        status=DeliveryStatus.CANCELLED, next_attempt_at=None, updated_at=now
    )
    for delivery in stopped:
        delivery.status = DeliveryStatus.CANCELLED
    digests_settle([d for d in stopped if d.notification.event == Event.DIGEST])  # what they carried, too
    touched = sorted({d.notification_id for d in stopped})
    notifications_refresh_status(touched)
    channels = [d.channel for d in stopped]
    transaction.on_commit(lambda: _count(channels))
    return Cancelled(len(touched), len(stopped))


def notification_cancel(notification: Notification) -> Notification:
    """Cancel one notification; NothingToCancel when nothing of it waits any more."""
    if not notifications_cancel([notification.pk]).notifications:
        raise NothingToCancel(notification.pk)
    notification.refresh_from_db()
    return notification


def notifications_cancel_by_key(*, api_key: Any, cancellation_key: str) -> int:
    """Cancel every notification of this API key sent with `cancellation_key` that still has
    something waiting; how many."""
    ids = list(
        Notification.objects.filter(api_key=api_key, cancellation_key=cancellation_key)
        .filter(Q(deliveries__status__in=WAITING_DELIVERY_STATUSES))
        .values_list("pk", flat=True)
        .distinct()[:CANCEL_BATCH]
    )
    return notifications_cancel(ids).notifications


def _count(channels: list[str]) -> None:
    for channel in channels:
        metrics.DELIVERIES.labels(channel, DeliveryStatus.CANCELLED).inc()
