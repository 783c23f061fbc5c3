"""Deliveries written straight into the outbox, for tests whose private worker drains a channel of its
own (no planning, no wake: the worker's start-up sweep or the beat finds them)."""

from django.utils import timezone

from apps.customers.models import Customer
from apps.notifications.models import Delivery, Notification


def outbox_backlog(channel: str, addresses: list[str]) -> Notification:
    """One notification with a due delivery of `channel` to each address."""
    customer = Customer.objects.create(name="Backlog", email="backlog@example.com", channels=["email"])
    notification = Notification.objects.create(customer=customer, event="custom", channels=[channel])
    Delivery.objects.bulk_create(
        Delivery(
            notification=notification,
            channel=channel,
            address=address,
            subject="Hi",
            body="Hi",
            body_plain="Hi",
            next_attempt_at=timezone.now(),
        )
        for address in addresses
    )
    return notification
