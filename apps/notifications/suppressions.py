"""The suppression list (DESIGN section 13): addresses no message goes to, filled by hard bounces,
ESP rejects, SMTP 5.1.x refusals, complaints and blocked bots, and by hand."""

import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from apps.notifications import metrics
from apps.notifications.models import Delivery, Suppression, SuppressionReason

logger = logging.getLogger(__name__)


def address_key(channel: str, address: str) -> str:
    """The form an address is listed and compared in: email addresses compare case-insensitively."""
    address = address.strip()
    return address.lower() if channel == "email" else address


def suppressions_add(entries: Iterable[tuple[str, str, str, int | None]]) -> None:
    """List (channel, address, reason, delivery id) entries; an address already listed keeps its
    first entry. Runs in the caller's transaction."""
    rows = {
        (channel, address_key(channel, address)): Suppression(
            channel=channel, address=address_key(channel, address), reason=reason, delivery_id=delivery_id
        )
        for channel, address, reason, delivery_id in entries
        if address.strip()
    }
    if not rows:
        return
    Suppression.objects.bulk_create(list(rows.values()), ignore_conflicts=True)
    for channel, address in rows:
        logger.info("suppressed %s address %s", channel, address, extra={"channel": channel})
    reasons = [row.reason for row in rows.values()]
    transaction.on_commit(lambda: _count(reasons))


def _count(reasons: list[str]) -> None:
    for reason in reasons:
        metrics.SUPPRESSIONS.labels(reason).inc()


def deliveries_suppressed(channel: str, deliveries: list[Delivery]) -> list[Delivery]:
    """Those of `deliveries` (all of `channel`) whose address is on the list: one query."""
    keys = {address_key(channel, d.address) for d in deliveries if d.address}
    if not keys:
        return []
    listed = set(
        Suppression.objects.filter(channel=channel, address__in=sorted(keys)).values_list(
            "address", flat=True
        )
    )
    return [d for d in deliveries if d.address and address_key(channel, d.address) in listed]


def suppression_create(
    *, channel: str, address: str, reason: str = SuppressionReason.MANUAL
) -> tuple[Suppression, bool]:
    """List an address by hand; (the entry, whether it is new). An address listed already keeps its
    entry (and reason)."""
    key = address_key(channel, address)
    try:
        with transaction.atomic():
            return Suppression.objects.create(channel=channel, address=key, reason=reason), True
    except IntegrityError:
        return Suppression.objects.get(channel=channel, address=key), False


def suppression_delete(suppression: Suppression) -> None:
    """Take the address off the list: the next message to it goes out."""
    suppression.delete()
