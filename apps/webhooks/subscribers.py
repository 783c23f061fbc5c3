"""Delivery and notification events -> webhook messages, in the transaction that caused them (the
outbox): a message is committed exactly when the change it reports is."""

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from apps.notifications.events import DeliveriesFinished, NotificationsCompleted, delivery_data
from apps.notifications.models import Notification
from apps.webhooks import dispatch
from apps.webhooks.models import EventType, WebhookEndpoint, WebhookMessage
from apps.webhooks.signing import message_id_new
from core.cache import cached, forget_on_commit
from core.patterns.observer import event_bus

ENDPOINTS_KEY = "webhooks:endpoints"


def _subscribed() -> list[tuple[int, list[str]]]:
    """Active endpoints and their event types; cached, as every recorded batch of deliveries asks."""
    return (
        cached(
            "webhook_endpoints",
            ENDPOINTS_KEY,
            lambda: [
                (pk, list(events))
                for pk, events in WebhookEndpoint.objects.filter(disabled_at__isnull=True).values_list(
                    "pk", "events"
                )
            ],
            timeout=settings.CACHE_TIMEOUT,
        )
        or []
    )


def endpoints_changed(**_: Any) -> None:
    forget_on_commit(ENDPOINTS_KEY)


def message_body(message_id: str, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now().isoformat().replace("+00:00", "Z")
    return {"id": message_id, "type": type_, "timestamp": now, "data": data}


def messages_create(
    events: list[tuple[str, dict[str, Any]]], *, endpoint_ids: list[int] | None = None
) -> int:
    """One message per (event, subscribed endpoint); the drain is woken once the transaction commits."""
    subscribed = _subscribed()
    now = timezone.now()
    messages = []
    for type_, data in events:
        for endpoint_id, types in subscribed:
            if (endpoint_ids is None and type_ in types) or (endpoint_ids and endpoint_id in endpoint_ids):
                message_id = message_id_new()
                messages.append(
                    WebhookMessage(
                        endpoint_id=endpoint_id,
                        message_id=message_id,
                        type=type_,
                        body=message_body(message_id, type_, data),
                        next_attempt_at=now,
                    )
                )
    if messages:
        WebhookMessage.objects.bulk_create(messages)
        transaction.on_commit(dispatch.webhooks_wake)
    return len(messages)


def on_deliveries_finished(event: DeliveriesFinished) -> None:
    messages_create([(f"delivery.{d['status']}", d) for d in event.deliveries])


def on_notifications_completed(event: NotificationsCompleted) -> None:
    if not any(EventType.NOTIFICATION_COMPLETED in types for _, types in _subscribed()):
        return
    notifications = Notification.objects.filter(pk__in=event.notification_ids).prefetch_related("deliveries")
    messages_create([(EventType.NOTIFICATION_COMPLETED, notification_data(n)) for n in notifications])


def notification_data(notification: Notification) -> dict[str, Any]:
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
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
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
    post_save.connect(endpoints_changed, sender=WebhookEndpoint, dispatch_uid="webhook-endpoints-cache")
    post_delete.connect(endpoints_changed, sender=WebhookEndpoint, dispatch_uid="webhook-endpoints-cache-del")
