"""Notification reads (the repository)."""

from datetime import datetime
from typing import Any

from django.db.models import Max, Prefetch, QuerySet
from django.http import Http404

from apps.notifications.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationTemplate,
    ProviderEvent,
)
from core.utils.ids import parse_id


def notification_queryset() -> QuerySet[Notification]:
    return Notification.objects.prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.order_by("id")),
        Prefetch("deliveries__attempt_log", queryset=DeliveryAttempt.objects.order_by("started_at", "id")),
        Prefetch("deliveries__provider_events", queryset=ProviderEvent.objects.order_by("occurred_at", "id")),
    )


def notification_get(notification_id: object) -> Notification:
    notification = notification_queryset().filter(pk=parse_id(notification_id) or 0).first()
    if notification is None:
        raise Http404("No notification with this id.")
    return notification


def notification_history(
    *,
    customer_id: int | None = None,
    status: str | None = None,
    channel: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Notification]:
    queryset = notification_queryset()
    if customer_id is not None:
        queryset = queryset.filter(customer_id=customer_id)
    if status:
        queryset = queryset.filter(status=status)
    if channel:
        queryset = queryset.filter(pk__in=Delivery.objects.filter(channel=channel).values("notification_id"))
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


def dead_letters(*, channel: str | None = None, since: datetime | None = None) -> QuerySet[Delivery]:
    """Deliveries that failed for good, newest first: what an operator may replay."""
    queryset = Delivery.objects.filter(status=DeliveryStatus.FAILED).select_related("notification")
    if channel:
        queryset = queryset.filter(channel=channel)
    if since:
        queryset = queryset.filter(updated_at__gte=since)
    return queryset


def notifications_of_order(order_id: int) -> QuerySet[Notification]:
    return notification_queryset().filter(order_id=order_id).order_by("created_at", "id")


def notifications_with_deliveries(notification_ids: "tuple[int, ...] | list[int]") -> QuerySet[Notification]:
    return Notification.objects.filter(pk__in=notification_ids).prefetch_related("deliveries")


def template_by_id(template_id: object) -> NotificationTemplate | None:
    return NotificationTemplate.objects.filter(pk=parse_id(template_id) or 0).first()


def template_get(template_id: object) -> NotificationTemplate:
    template = template_by_id(template_id)
    if template is None:
        raise Http404("No template with this id.")
    return template


def template_list(**filters: Any) -> QuerySet[NotificationTemplate]:
    """Templates matching `key`, `channel`, `language` (those given), with their latest version."""
    return (
        NotificationTemplate.objects.filter(**filters)
        .annotate(latest_version=Max("versions__version"))
        .order_by("key", "channel", "language", "id")
    )
