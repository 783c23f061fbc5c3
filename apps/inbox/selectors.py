"""Reading inboxes: the list a customer sees and the badge's counts."""

from django.db.models import Count, Q, QuerySet

from apps.inbox.models import InboxItem

STATUSES = ("unread", "read", "archived", "all")


def inbox_items(customer_id: int, status: str = "") -> QuerySet[InboxItem]:
    """Newest first. `status`: unread, read, archived, all; by default every item not archived."""
    items = InboxItem.objects.filter(customer_id=customer_id).order_by("-id")
    if status == "all":
        return items
    if status == "archived":
        return items.filter(archived_at__isnull=False)
    items = items.filter(archived_at__isnull=True)
    if status == "unread":
        return items.filter(read_at__isnull=True)
    if status == "read":
        return items.filter(read_at__isnull=False)
    return items


COUNTS = {
    "unseen": Count("id", filter=Q(seen_at__isnull=True)),
    "unread": Count("id", filter=Q(read_at__isnull=True)),
    "total": Count("id"),
}


def inbox_counts(customer_id: int) -> dict[str, int]:
    """Of the items not archived: how many were never seen, never read, and all of them."""
    counts = InboxItem.objects.filter(customer_id=customer_id, archived_at__isnull=True).aggregate(**COUNTS)
    return {name: int(counts[name] or 0) for name in COUNTS}


def inbox_counts_many(customer_ids: set[int]) -> dict[int, dict[str, int]]:
    """inbox_counts for several customers in one query."""
    rows = (
        InboxItem.objects.filter(customer_id__in=sorted(customer_ids), archived_at__isnull=True)
        .values("customer_id")
        .annotate(**COUNTS)
    )
    counts = {c: dict.fromkeys(COUNTS, 0) for c in customer_ids}
    for row in rows:
        counts[row["customer_id"]] = {name: int(row[name]) for name in COUNTS}
    return counts
