"""Notification statuses, derived from their deliveries by the notification's strategy."""

from django.db import transaction
from django.utils import timezone

from apps.notifications.events import NotificationsCompleted
from apps.notifications.models import Delivery, Notification, NotificationStatus
from apps.notifications.strategies import STRATEGIES
from core.patterns.observer import event_bus

FINAL = {s for s in NotificationStatus.values if s != NotificationStatus.QUEUED}


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
    notifications_completed([pk for status, pks in changes.items() if status in FINAL for pk in pks])
    return result


def notifications_completed(notification_ids: list[int]) -> None:
    """Publish the notifications that have just reached a final status (inside the transaction)."""
    if notification_ids:
        event_bus.publish(NotificationsCompleted(notification_ids=tuple(sorted(notification_ids))))
