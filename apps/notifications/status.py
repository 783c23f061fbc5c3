"""Notification statuses, derived from their deliveries by the notification's strategy."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.notifications.events import NotificationsCompleted
from apps.notifications.models import Delivery, Notification, NotificationStatus
from apps.notifications.strategies import STRATEGIES
from core.patterns.observer import event_bus
from core.utils.bulk import bulk_write

NOT_FINAL = {NotificationStatus.QUEUED, NotificationStatus.SCHEDULED}
FINAL = {s for s in NotificationStatus.values if s not in NOT_FINAL}


def scheduled_or(status: str, send_at: datetime | None, now: datetime | None = None) -> str:
    """A notification whose deliveries wait for its `send_at` reads `scheduled` until then."""
    if status == NotificationStatus.QUEUED and send_at is not None and send_at > (now or timezone.now()):
        return NotificationStatus.SCHEDULED
    return status


def notification_refresh_status(notification: Notification) -> None:
    """Derive the notification's status from its deliveries, under a row lock so that two workers
    finishing deliveries of one notification at the same time cannot both write a stale answer."""
    statuses = notifications_refresh_status([notification.pk])
    notification.status = statuses.get(notification.pk, notification.status)


@transaction.atomic(savepoint=False)
def notifications_refresh_status(notification_ids: list[int]) -> dict[int, str]:
    """`notification_refresh_status` for many, in three statements: the notifications locked in id
    order (two workers refreshing overlapping sets cannot deadlock), their deliveries' statuses, and
    one UPDATE of those whose status changed."""
    result: dict[int, str] = {}
    changed: list[Notification] = []
    now = timezone.now()
    for pk, strategy, current, send_at, statuses in _locked_with_delivery_statuses(notification_ids):
        result[pk] = scheduled_or(STRATEGIES[strategy].status_of(statuses), send_at, now)
        if result[pk] != current:
            changed.append(Notification(pk=pk, status=result[pk], updated_at=now))
    bulk_write(Notification, changed, ["status", "updated_at"])
    notifications_completed([n.pk for n in changed if n.status in FINAL])
    return result


def _locked_with_delivery_statuses(
    notification_ids: list[int],
) -> list[tuple[int, str, str, datetime | None, list[str]]]:
    """The notifications locked in id order, then their deliveries' statuses. Two statements on
    purpose: the second one's snapshot is taken after the locks are held, so it sees what a worker
    that held a lock before us committed. (Read in the locking statement, as a subquery, the statuses
    would come from before the wait: two workers finishing the two deliveries of one notification
    would each see the other's still `sending`, and it would stay `queued`.)"""
    locked = list(
        Notification.objects.select_for_update()
        .filter(pk__in=notification_ids)
        .order_by("pk")
        .values_list("pk", "strategy", "status", "send_at")
    )
    statuses: dict[int, list[str]] = {pk: [] for pk, _, _, _ in locked}
    for notification_id, status in Delivery.objects.filter(notification_id__in=statuses).values_list(
        "notification_id", "status"
    ):
        statuses[notification_id].append(status)
    return [(pk, strategy, current, send_at, statuses[pk]) for pk, strategy, current, send_at in locked]


def notifications_started(notification_ids: set[int]) -> None:
    """Scheduled notifications whose deliveries a drain has claimed: `queued` from now on."""
    if notification_ids:
        Notification.objects.filter(
            pk__in=sorted(notification_ids), status=NotificationStatus.SCHEDULED
        ).update(status=NotificationStatus.QUEUED, updated_at=timezone.now())


def notifications_completed(notification_ids: list[int]) -> None:
    """Publish the notifications that have just reached a final status (inside the transaction)."""
    if notification_ids:
        event_bus.publish(NotificationsCompleted(notification_ids=tuple(sorted(notification_ids))))
