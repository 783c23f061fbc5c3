"""Delivery and notification events -> webhook messages, in the transaction that caused them (the
outbox): a message is committed exactly when the change it reports is."""

from typing import Any

from django.db.models.signals import post_delete, post_save

from apps.notifications.events import DeliveriesFinished, NotificationsCompleted, delivery_data
from apps.notifications.selectors import notifications_with_deliveries
from apps.notifications.tracking import DeliveriesTracked
from apps.webhooks.models import EventType, WebhookEndpoint
from apps.webhooks.selectors import endpoints_changed, endpoints_subscribed
from apps.webhooks.services import messages_create
from core.patterns.observer import event_bus
from core.utils.dates import iso_utc


def on_deliveries_finished(event: DeliveriesFinished) -> None:
    messages_create([(f"delivery.{d['status']}", d) for d in event.deliveries])


def on_deliveries_tracked(event: DeliveriesTracked) -> None:
    messages_create(list(event.items))


def on_notifications_completed(event: NotificationsCompleted) -> None:
    if not any(EventType.NOTIFICATION_COMPLETED in types for _, types in endpoints_subscribed()):
        return
    notifications = notifications_with_deliveries(event.notification_ids)
    messages_create([(EventType.NOTIFICATION_COMPLETED, notification_data(n)) for n in notifications])


def notification_data(notification: Any) -> dict[str, Any]:
    """The notification as GET /notifications/status/{id}/ shows it."""
    return {
        "id": notification.pk,
        "customer": notification.customer_id,
        "status": notification.status,
        "event": notification.event,
        "category": notification.category,
        "strategy": notification.strategy,
        "priority": notification.priority,
        "order_id": notification.order_id,
        "created_at": iso_utc(notification.created_at),
        "deliveries": [
            {
                k: v
                for k, v in delivery_data(d).items()
                if k not in ("id", "notification", "customer", "order")
            }
            for d in sorted(notification.deliveries.all(), key=lambda d: d.pk)
        ],
    }


def connect() -> None:
    event_bus.subscribe(DeliveriesFinished, on_deliveries_finished)
    event_bus.subscribe(NotificationsCompleted, on_notifications_completed)
    event_bus.subscribe(DeliveriesTracked, on_deliveries_tracked)
    post_save.connect(endpoints_changed, sender=WebhookEndpoint, dispatch_uid="webhook-endpoints-cache")
    post_delete.connect(endpoints_changed, sender=WebhookEndpoint, dispatch_uid="webhook-endpoints-cache-del")
