"""Events the notifications app publishes on the in-process bus.

DeliveryFailed is published once the change is committed (operator alerts leave the process).
DeliveriesFinished and NotificationsCompleted are published inside the transaction that makes the
change, so a subscriber's writes (the webhook outbox) commit or roll back with it.
"""

from dataclasses import dataclass
from typing import Any

from apps.notifications.models import Delivery
from core.utils.dates import iso_utc

FINAL_DELIVERY_STATUSES = ("sent", "failed", "skipped")


@dataclass(frozen=True)
class DeliveryFailed:
    """A delivery ended `failed`: its retry budget is spent or the provider refused it for good."""

    delivery_id: int
    notification_id: int
    channel: str
    error: str
    attempts: int


@dataclass(frozen=True)
class DeliveriesFinished:
    """Deliveries reached a final status; each as `delivery_data` describes it."""

    deliveries: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class NotificationsCompleted:
    """Notifications reached a final status (sent, partially sent, failed or suppressed)."""

    notification_ids: tuple[int, ...]


def delivery_data(delivery: Delivery) -> dict[str, Any]:
    """A delivery as the status API shows it, with its notification, customer and order."""
    notification = delivery.notification
    return {
        "id": delivery.pk,
        "notification": delivery.notification_id,
        "customer": notification.customer_id,
        "order": notification.order_id,
        "channel": delivery.channel,
        "status": delivery.status,
        "skip_reason": delivery.skip_reason,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "provider_message_id": delivery.provider_message_id,
        "next_attempt_at": iso_utc(delivery.next_attempt_at),
        "sent_at": iso_utc(delivery.sent_at),
    }


def deliveries_finished(deliveries: list[Delivery]) -> None:
    """Publish the final ones among `deliveries` (inside the caller's transaction)."""
    from core.patterns.observer import event_bus

    final = tuple(delivery_data(d) for d in deliveries if d.status in FINAL_DELIVERY_STATUSES)
    if final:
        event_bus.publish(DeliveriesFinished(deliveries=final))
