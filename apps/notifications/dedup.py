"""What an API send is checked against before its deliveries are written: the customer's hourly cap
(NOTIFICATION_CUSTOMER_HOURLY_CAP API sends; order events are never capped) and the dedup window (the
same text to the same customer on the same channel within NOTIFICATION_DEDUP_WINDOW is skipped as a
duplicate). On PostgreSQL both are one query; a delivery already skipped is not checked."""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.customers.models import Customer
from apps.notifications.models import Delivery, DeliveryStatus, Event, Notification, SkipReason

_CHECKS = """
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM {notification}
        WHERE customer_id = %(customer)s AND event = %(custom)s AND created_at >= %(hour)s
        LIMIT %(cap)s
    ) recent),
    ARRAY(
        SELECT DISTINCT d.content_hash FROM {delivery} d JOIN {notification} n ON n.id = d.notification_id
        WHERE d.content_hash = ANY(%(hashes)s) AND d.created_at >= %(window)s
          AND n.customer_id = %(customer)s AND d.status NOT IN (%(skipped)s, %(failed)s, %(cancelled)s)
    )
"""


# Deliveries that do not make a later identical message a duplicate: nothing of them reached anyone.
NOT_REPEATED = (DeliveryStatus.SKIPPED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED)


def send_checks(customer: Customer, deliveries: list[Delivery]) -> None:
    """Skip what the cap or the dedup window refuses (in place): over the cap every delivery is
    `rate_limited`; else each one whose text went out recently is `duplicate`."""
    candidates = [d for d in deliveries if d.status == DeliveryStatus.QUEUED]
    if not candidates:
        return
    now = timezone.now()
    hour, window = now - timedelta(hours=1), now - timedelta(seconds=settings.NOTIFICATION_DEDUP_WINDOW)
    cap = settings.NOTIFICATION_CUSTOMER_HOURLY_CAP
    hashes = [d.content_hash for d in candidates]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _CHECKS.format(notification=Notification._meta.db_table, delivery=Delivery._meta.db_table),
                {
                    "customer": customer.pk,
                    "custom": Event.CUSTOM,
                    "hour": hour,
                    "cap": cap,
                    "hashes": hashes,
                    "window": window,
                    "skipped": DeliveryStatus.SKIPPED,
                    "failed": DeliveryStatus.FAILED,
                    "cancelled": DeliveryStatus.CANCELLED,
                },
            )
            recent, seen = cursor.fetchone()
    else:
        recent = (
            Notification.objects.filter(customer=customer, event=Event.CUSTOM, created_at__gte=hour)
            .values("pk")[:cap]
            .count()
        )
        seen = set(
            Delivery.objects.filter(
                content_hash__in=hashes, created_at__gte=window, notification__customer=customer
            )
            .exclude(status__in=NOT_REPEATED)
            .values_list("content_hash", flat=True)
        )
    for delivery in candidates:
        if recent >= cap:  # this send would be one more than the cap (counted no further than it)
            delivery_skip(delivery, SkipReason.RATE_LIMITED)
        elif delivery.content_hash in seen:
            delivery_skip(delivery, SkipReason.DUPLICATE)


def delivery_skip(delivery: Delivery, reason: str) -> None:
    """An unsaved delivery that will not be sent: skipped, with nothing rendered kept."""
    delivery.status, delivery.skip_reason = DeliveryStatus.SKIPPED, reason
    delivery.subject = delivery.body = delivery.body_plain = delivery.body_html = ""
    delivery.next_attempt_at = None
    if reason == SkipReason.RATE_LIMITED:
        delivery.content_hash = ""
