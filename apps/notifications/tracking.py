"""Email providers' tracking events (DESIGN section 13): anymail's webhook views normalise what an ESP
posts; `on_tracking` stores each event and wakes a worker (the ESP waits for the answer and resends
after a few seconds), and `provider_events_apply` applies stored events to their deliveries.

A delivery's status only gets worse: sent < delivered < bounced, so an out-of-order `delivered` after
a `bounced` changes nothing. A soft bounce or deferral changes nothing, whatever anymail calls it.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.notifications import dispatch, metrics
from apps.notifications.events import delivery_data
from apps.notifications.models import Delivery, DeliveryStatus, ProviderEvent, SuppressionReason
from apps.notifications.planning import deliveries_failover
from apps.notifications.status import notifications_refresh_status
from apps.notifications.suppressions import suppressions_add
from core.outbox.drain import DrainResult
from core.patterns.observer import event_bus
from core.utils.bulk import bulk_write
from core.utils.dates import iso_utc

logger = logging.getLogger(__name__)

# The ESPs' own names for bounces that anymail reports as `bounced` but that are not final.
SOFT_BOUNCES = {
    "postmark": {
        "SoftBounce",
        "Transient",
        "DnsError",
        "AutoResponder",
        "AddressChange",
        "ChallengeVerification",
    },
}
# What each event type makes of the delivery, and how bad that is.
EVENT_STATUS: dict[str, str] = {
    EventType.DELIVERED: DeliveryStatus.DELIVERED,
    EventType.BOUNCED: DeliveryStatus.BOUNCED,
    EventType.REJECTED: DeliveryStatus.BOUNCED,
}
RANK: dict[str, int] = {DeliveryStatus.SENT: 0, DeliveryStatus.DELIVERED: 1, DeliveryStatus.BOUNCED: 2}
# Events reported to webhook subscribers: the event type -> the webhook event's type.
WEBHOOK_TYPES: dict[str, str] = {
    DeliveryStatus.DELIVERED: "delivery.delivered",
    DeliveryStatus.BOUNCED: "delivery.bounced",
    EventType.COMPLAINED: "delivery.complained",
}
APPLY_BATCH = 500


@dataclass(frozen=True)
class DeliveriesTracked:
    """Provider events changed deliveries (or were complaints): (webhook event type, data) pairs."""

    items: tuple[tuple[str, dict[str, Any]], ...]


def on_tracking(sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    """anymail's `tracking` signal: store the event (once: ESPs resend) and wake a worker."""
    provider = esp_name.lower().replace(" ", "_")
    if not event.message_id:
        metrics.PROVIDER_EVENTS.labels(provider, event.event_type, "unmatched").inc()
        logger.info("%s %s event without a message id: ignored", provider, event.event_type)
        return
    message_id = str(event.message_id)[:255]
    key = f"{provider}:{event.event_id}" if event.event_id else f"{provider}:{message_id}:{event.event_type}"
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    detail = event.description or event.mta_response or event.reject_reason or ""
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(
                provider=provider,
                key=key[:300],
                event_type=str(event.event_type)[:32],
                message_id=message_id,
                recipient=(event.recipient or "")[:254],
                occurred_at=event.timestamp or timezone.now(),
                detail=str(detail)[:2000],
                esp_type=str(esp_event.get("Type") or "")[:64],
            )
    except IntegrityError:
        metrics.PROVIDER_EVENTS.labels(provider, event.event_type, "duplicate").inc()
        return
    transaction.on_commit(dispatch.provider_events_wake)


def provider_events_drain(*, each_batch: Callable[[], None], budget: float = 10.0) -> DrainResult:
    """Apply stored events in batches until none is left or `budget` seconds have passed."""
    result, deadline = DrainResult(), time.monotonic() + budget
    while True:
        each_batch()
        applied = provider_events_apply()
        result.batches += 1
        result.sent += applied
        if applied < APPLY_BATCH:
            return result
        if time.monotonic() > deadline:
            result.out_of_time = True
            return result


@transaction.atomic
def provider_events_apply(limit: int = APPLY_BATCH) -> int:
    """Apply up to `limit` stored events, oldest first, to their deliveries; how many were applied.
    Concurrent workers take different events (SKIP LOCKED); the deliveries are locked in id order."""
    events = list(
        ProviderEvent.objects.select_for_update(skip_locked=True)
        .filter(applied_at=None)
        .order_by("id")[:limit]
    )
    if not events:
        return 0
    deliveries = {
        d.provider_message_id: d
        for d in Delivery.objects.select_for_update(of=("self",))
        .select_related("notification__customer")
        .filter(channel="email", provider_message_id__in=sorted({e.message_id for e in events}))
        .order_by("id")
    }
    now = timezone.now()
    changed: dict[int, Delivery] = {}
    bounced: dict[int, Delivery] = {}
    tracked: list[tuple[str, dict[str, Any]]] = []
    suppress: list[tuple[str, str, str, int | None]] = []
    counted: list[tuple[str, str, str]] = []
    for event in events:
        event.applied_at = now
        delivery = deliveries.get(event.message_id)
        result = "unmatched" if delivery is None else _apply(event, delivery)
        counted.append((event.provider, event.event_type, result))
        if delivery is None:
            continue
        event.delivery = delivery
        if result == "applied":
            changed[delivery.pk] = delivery
            if delivery.status == DeliveryStatus.BOUNCED:
                bounced[delivery.pk] = delivery
            tracked.append((WEBHOOK_TYPES[delivery.status], _event_data(delivery, event)))
        if event.event_type == EventType.COMPLAINED:
            suppress.append((delivery.channel, delivery.address, SuppressionReason.COMPLAINED, delivery.pk))
            tracked.append((WEBHOOK_TYPES[EventType.COMPLAINED], _event_data(delivery, event)))
        elif result == "applied" and delivery.status == DeliveryStatus.BOUNCED:
            suppress.append((delivery.channel, delivery.address, SuppressionReason.BOUNCED, delivery.pk))
    bulk_write(ProviderEvent, events, ["applied_at", "delivery"])
    if changed:
        for delivery in changed.values():
            delivery.updated_at = now
        bulk_write(Delivery, list(changed.values()), ["status", "last_error", "updated_at"])
    suppressions_add(suppress)
    if bounced:
        deliveries_failover(list(bounced.values()))
    if changed:
        notifications_refresh_status(sorted({d.notification_id for d in changed.values()}))
    if tracked:
        event_bus.publish(DeliveriesTracked(items=tuple(tracked)))
    transaction.on_commit(lambda: _count(counted))
    return len(events)


def _count(counted: list[tuple[str, str, str]]) -> None:
    for labels in counted:
        metrics.PROVIDER_EVENTS.labels(*labels).inc()


def _apply(event: ProviderEvent, delivery: Delivery) -> str:
    """The event's effect on the delivery (in memory): `applied`, or `ignored` (no change)."""
    status = EVENT_STATUS.get(event.event_type)
    if event.event_type == EventType.BOUNCED and event.esp_type in SOFT_BOUNCES.get(event.provider, ()):
        status = None
    if status is None or delivery.status not in RANK or RANK[status] <= RANK[delivery.status]:
        return "ignored"
    delivery.status = status
    if status == DeliveryStatus.BOUNCED:
        delivery.last_error = f"{event.event_type}: {event.detail}"[:2000]
    return "applied"


def _event_data(delivery: Delivery, event: ProviderEvent) -> dict[str, Any]:
    return delivery_data(delivery) | {"event": event_output(event)}


def event_output(event: ProviderEvent) -> dict[str, Any]:
    """A provider event as the status API and the webhook events show it."""
    return {
        "type": event.event_type,
        "at": iso_utc(event.occurred_at),
        "detail": event.detail,
    }
