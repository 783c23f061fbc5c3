"""Writing inboxes: storing what the in_app channel delivers, marking items, and the events each
change makes for the live stream (stored first, published once committed)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.inbox.bus import events_publish
from apps.inbox.models import InboxEvent, InboxEventKind, InboxItem
from apps.inbox.selectors import inbox_counts_many
from core.utils.dates import iso_utc

MARKS = ("seen", "read", "unread", "archived")


@dataclass(frozen=True)
class InboxMessage:
    delivery_id: int
    notification_id: int
    customer_id: int
    category: str
    subject: str
    body: str


def item_data(item: InboxItem) -> dict[str, Any]:
    """An item as the API and the stream show it (InboxItemSerializer documents the same fields)."""
    return {
        "id": item.pk,
        "notification": item.notification_id,
        "category": item.category,
        "subject": item.subject,
        "body": item.body,
        "created_at": iso_utc(item.created_at),
        "seen_at": iso_utc(item.seen_at),
        "read_at": iso_utc(item.read_at),
        "archived_at": iso_utc(item.archived_at),
    }


def _counts_events(customer_ids: Iterable[int], now: datetime) -> list[InboxEvent]:
    counts = inbox_counts_many(set(customer_ids))
    return [
        InboxEvent(
            customer_id=customer_id,
            kind=InboxEventKind.COUNTS,
            data={"unseen": c["unseen"], "unread": c["unread"]},
            created_at=now,
        )
        for customer_id, c in sorted(counts.items())
    ]


def inbox_store(messages: list[InboxMessage]) -> dict[int, int]:
    """Store each message as an inbox item (once per delivery, however often it is sent) with its
    `notification` event and its customer's new `counts`, then publish them. {delivery id: item id}."""
    now = timezone.now()
    with transaction.atomic():
        existing = dict(
            InboxItem.objects.filter(delivery_id__in=[m.delivery_id for m in messages]).values_list(
                "delivery_id", "pk"
            )
        )
        new = [
            InboxItem(
                customer_id=m.customer_id,
                notification_id=m.notification_id,
                delivery_id=m.delivery_id,
                category=m.category,
                subject=m.subject[:255],
                body=m.body,
                created_at=now,
            )
            for m in {m.delivery_id: m for m in messages if m.delivery_id not in existing}.values()
        ]
        InboxItem.objects.bulk_create(new)
        events = [
            InboxEvent(
                customer_id=item.customer_id,
                kind=InboxEventKind.NOTIFICATION,
                data=item_data(item),
                created_at=now,
            )
            for item in new
        ]
        events += _counts_events({item.customer_id for item in new}, now)
        InboxEvent.objects.bulk_create(events)
        transaction.on_commit(lambda: events_publish(events))
    return {**existing, **{item.delivery_id: item.pk for item in new}}


def inbox_mark(customer_id: int, *, mark: str, ids: list[int] | None = None) -> int:
    """Mark the customer's items (`ids`, or every item not archived when None) as `mark`; how many
    changed. Marking read also marks seen. A change makes a `counts` event."""
    if mark not in MARKS:
        raise ValueError(f"unknown mark {mark!r}")
    now = timezone.now()
    items = InboxItem.objects.filter(customer_id=customer_id)
    items = items.filter(archived_at__isnull=True) if ids is None else items.filter(pk__in=ids)
    with transaction.atomic():
        if mark == "seen":
            changed = items.filter(seen_at__isnull=True).update(seen_at=now)
        elif mark == "read":
            unread = items.filter(read_at__isnull=True)
            items.filter(seen_at__isnull=True).update(seen_at=now)
            changed = unread.update(read_at=now)
        elif mark == "unread":
            changed = items.filter(read_at__isnull=False).update(read_at=None)
        else:
            changed = items.filter(archived_at__isnull=True).update(archived_at=now)
        if changed:
            events = _counts_events([customer_id], now)
            InboxEvent.objects.bulk_create(events)
            transaction.on_commit(lambda: events_publish(events))
    return changed


def inbox_events_prune(*, keep: timedelta) -> int:
    """Delete stream events older than `keep` (replay goes back INBOX_EVENTS_KEEP, at least 24 h)."""
    deleted, _ = InboxEvent.objects.filter(created_at__lt=timezone.now() - keep).delete()
    return deleted
