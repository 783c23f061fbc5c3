"""Digests: a customer's messages of one category on one channel collected into one message per window
(DESIGN section 14; the preference is apps.customers.digests).

- Holding: planning puts a delivery the customer wants digested into the open window of its
  (customer, category, channel), opening one if none is (`digest_holds`). The window is upserted
  (`INSERT ... ON CONFLICT ... DO UPDATE`), which also locks it until the planning commits, so
  concurrent sends into one window find the same row and a drain cannot close it under them. A held
  delivery waits `queued` with `next_attempt_at` at the window's end and is never claimed on its own.
- Closing: a drain of the channel claims due windows (a conditional UPDATE with SKIP LOCKED, in the
  transaction that makes the digest, so a window is closed once whatever the number of workers) and
  makes the digest: a notification (event `digest`) rendered from the `digest` template with the held
  messages as `items`, sent as any other through the outbox. The held deliveries are then covered
  (`queued`, no due time). Opted out meanwhile: they are skipped and nothing is sent.
- Settling: when the digest's delivery reaches a final status, the covered deliveries take it (sent
  with its provider message id, failed, skipped, cancelled), in the same transaction
  (`digests_settle`); the sweep settles any the happy path missed (`digests_settle_missed`). A failed
  digest does not move its notifications to their next channel under `failover`: it carries many of
  them, and trying each one's next channel would send them one by one after all.
"""

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.customers.digests import digest_parse
from apps.customers.models import Customer
from apps.notifications.events import deliveries_finished
from apps.notifications.models import (
    Delivery,
    DeliveryStatus,
    DigestWindow,
    DigestWindowStatus,
    Event,
    Notification,
    Priority,
    SkipReason,
    Strategy,
)
from apps.notifications.outbox.policy import quiet_until
from apps.notifications.status import FINAL as FINAL_NOTIFICATION
from apps.notifications.status import notifications_refresh_status
from core.outbox.claim import db_value, rows_claim

DIGEST_TEMPLATE = "digest"
FINAL = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.CANCELLED)

_OPEN = """
INSERT INTO {table} (customer_id, category, channel, closes_at, status, created_at, updated_at)
VALUES (%(customer)s, %(category)s, %(channel)s, %(closes_at)s, %(open)s, %(now)s, %(now)s)
ON CONFLICT (customer_id, category, channel) WHERE status = %(open)s
DO UPDATE SET updated_at = excluded.updated_at
RETURNING id
"""


# --- holding (planning) ----------------------------------------------------------------------


def digest_wanted(customer: Customer, notification: Notification, deliveries: list[Delivery]) -> bool:
    """Whether any of these planned deliveries is to be held for a digest."""
    if notification.event == Event.DIGEST or notification.send_at is not None:
        return False  # a digest is not digested again; a scheduled message keeps its time
    return any(
        d.status == DeliveryStatus.QUEUED and customer.digest_for(notification.category, d.channel)
        for d in deliveries
    )


def digest_holds(customer: Customer, notification: Notification, deliveries: list[Delivery]) -> None:
    """Hold the planned (unsaved) deliveries the customer wants digested: each joins its window and is
    due at its end. Inside the transaction that inserts them (the window stays locked until then)."""
    if not digest_wanted(customer, notification, deliveries):
        return
    now = timezone.now()
    for delivery in deliveries:
        spec = digest_parse(customer.digest_for(notification.category, delivery.channel))
        if delivery.status != DeliveryStatus.QUEUED or spec is None:
            continue
        closes_at = spec.closes(now, customer.time_zone)
        # Marketing closing inside quiet hours closes at their end.
        closes_at = quiet_until(notification, closes_at, customer, channel=delivery.channel) or closes_at
        window_id = _window_open(customer.pk, notification.category, delivery.channel, closes_at, now)
        delivery.digest_window_id = window_id
        delivery.next_attempt_at = DigestWindow.objects.values_list("closes_at", flat=True).get(pk=window_id)


def _window_open(customer_id: int, category: str, channel: str, closes_at: datetime, now: datetime) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            _OPEN.format(table=DigestWindow._meta.db_table),
            {
                "customer": customer_id,
                "category": category,
                "channel": channel,
                "closes_at": db_value(closes_at),
                "open": DigestWindowStatus.OPEN,
                "now": db_value(now),
            },
        )
        return int(cursor.fetchone()[0])


# --- closing (the channel's drain) -----------------------------------------------------------


def digests_due(channel: str) -> bool:
    """Whether a window of `channel` is due to close (one cheap query before any transaction)."""
    return DigestWindow.objects.filter(
        channel=channel, status=DigestWindowStatus.OPEN, closes_at__lte=timezone.now()
    ).exists()


def digests_close(*, channel: str, limit: int) -> int:
    """Close up to `limit` due windows of `channel`, each in its own transaction; how many."""
    if not digests_due(channel):
        return 0
    closed = 0
    while closed < limit:
        with transaction.atomic():
            now = timezone.now()
            claimed = rows_claim(
                DigestWindow,
                where="c.channel = %(channel)s AND c.status = %(open)s AND c.closes_at <= %(now)s",
                order_by="c.closes_at, c.id",
                limit=1,
                assign={"status": DigestWindowStatus.CLOSED, "updated_at": now},
                params={"channel": channel, "open": DigestWindowStatus.OPEN, "now": now},
            )
            if not claimed:
                return closed
            _digest_make(claimed[0])
        closed += 1
    return closed


def _digest_make(window: DigestWindow) -> None:
    from apps.notifications.planning import MessageSource, notification_create

    held = list(
        Delivery.objects.filter(digest_window=window, status=DeliveryStatus.QUEUED)
        .select_related("notification")
        .select_for_update(of=("self",))  # a cancel of one of them waits, or has won
        .order_by("id")
    )
    if not held:
        return
    customer = Customer.objects.get(pk=window.customer_id)
    now = timezone.now()
    if not customer.accepts(window.category, window.channel):
        _follow(held, status=DeliveryStatus.SKIPPED, now=now, skip_reason=SkipReason.OPTED_OUT)
        return
    items = [
        {"subject": d.subject, "body": d.body_plain or d.body, "created_at": d.created_at.isoformat()}
        for d in held
    ]
    digest = notification_create(
        customer=customer,
        event=Event.DIGEST,
        source=MessageSource(template_key=DIGEST_TEMPLATE),
        category=window.category,
        context={"items": items, "count": len(items)},
        channels=[window.channel],
        strategy=Strategy.ALL,
        priority=Priority.NORMAL,
    )
    DigestWindow.objects.filter(pk=window.pk).update(digest=digest, updated_at=now)
    Delivery.objects.filter(pk__in=[d.pk for d in held]).update(next_attempt_at=None, updated_at=now)
    carriers = list(digest.deliveries.all())
    if any(d.status in FINAL for d in carriers):  # e.g. skipped at once: no contact point any more
        digests_settle(carriers)


# --- settling --------------------------------------------------------------------------------


def digests_settle(deliveries: list[Delivery]) -> None:
    """Deliveries of digest notifications that reached a final status: the deliveries their windows
    covered take it (inside the caller's transaction). Others among `deliveries` are ignored."""
    final = {d.notification_id: d for d in deliveries if d.status in FINAL}
    if not final:
        return
    windows = DigestWindow.objects.filter(digest_id__in=sorted(final)).values_list("pk", "digest_id")
    now = timezone.now()
    for window_id, digest_id in windows:
        carrier = final[digest_id]
        covered = list(
            Delivery.objects.filter(
                digest_window_id=window_id, status=DeliveryStatus.QUEUED, next_attempt_at__isnull=True
            )
            .select_related("notification")
            .select_for_update(of=("self",))
            .order_by("id")
        )
        if carrier.status == DeliveryStatus.SENT:
            changes: dict[str, Any] = {
                "provider_message_id": carrier.provider_message_id,
                "sent_at": carrier.sent_at or now,
            }
        elif carrier.status == DeliveryStatus.FAILED:
            changes = {"last_error": f"The digest failed: {carrier.last_error}"[:2000]}
        elif carrier.status == DeliveryStatus.SKIPPED:
            changes = {"skip_reason": carrier.skip_reason}
        else:
            changes = {}
        _follow(covered, status=carrier.status, now=now, **changes)


def _follow(deliveries: list[Delivery], *, status: str, now: datetime, **changes: Any) -> None:
    if not deliveries:
        return
    Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
        status=status, next_attempt_at=None, updated_at=now, **changes
    )
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at, delivery.updated_at = status, None, now
        for name, value in changes.items():
            setattr(delivery, name, value)
    deliveries_finished(deliveries)
    notifications_refresh_status(sorted({d.notification_id for d in deliveries}))


def digests_settle_missed() -> int:
    """Covered deliveries whose digest is final although they are not (a path that ended the
    digest's delivery without settling, such as a worker lost for good): settle them now."""
    digests = list(
        DigestWindow.objects.filter(
            status=DigestWindowStatus.CLOSED,
            digest__status__in=sorted(FINAL_NOTIFICATION),
            deliveries__status=DeliveryStatus.QUEUED,
            deliveries__next_attempt_at__isnull=True,
        )
        .values_list("digest_id", flat=True)
        .distinct()[:500]
    )
    if not digests:
        return 0
    with transaction.atomic():
        digests_settle(list(Delivery.objects.filter(notification_id__in=digests)))
    return len(digests)
