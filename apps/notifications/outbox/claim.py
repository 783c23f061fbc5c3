"""Which deliveries a drain of one channel claims, and in which order (core.outbox.claim does the
claiming).

Order: high-priority deliveries first, then by due time and acceptance (id). Per recipient (channel
and address) first attempts go out in the order they were accepted: a delivery is not claimed while an
earlier one to the same recipient is waiting for its first attempt (queued, or being sent) and due
within ORDER_HORIZON seconds. A delivery retrying after a provider failure holds back nobody, a
message held for the customer's quiet hours (due later than the horizon) does not hold back an order
update, a scheduled message holds back nobody before its send_at (it takes its place in the
recipient's order at that time), and a message held for a digest is never claimed on its own (the
digest carries it, see notifications.digests) and holds back nobody.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.notifications.models import Delivery, DeliveryStatus
from core.outbox.claim import rows_claim
from core.outbox.lease import lease_until

# An earlier undelivered message to the same recipient due within this many seconds holds back the
# later ones; a rate-limit or circuit wait is shorter, quiet hours are longer.
ORDER_HORIZON = 60.0

_DUE = """
    c.channel = %(channel)s
    AND c.status IN (%(queued)s, %(retrying)s)
    AND c.next_attempt_at <= %(now)s
    AND c.digest_window_id IS NULL
    AND NOT EXISTS (
        SELECT 1 FROM {table} e
        WHERE e.channel = c.channel AND e.address = c.address AND e.id < c.id
          AND e.status IN (%(queued)s, %(sending)s) AND e.attempts = 0
          AND e.next_attempt_at <= %(horizon)s
          AND (e.send_at IS NULL OR e.send_at <= %(now)s)
          AND e.digest_window_id IS NULL
    )
"""


def deliveries_claim(*, channel: str, limit: int) -> list[Delivery]:
    """Claim up to `limit` due deliveries of `channel`; returns them in the order to send them."""
    now = timezone.now()
    claimed = rows_claim(
        Delivery,
        where=_DUE.format(table=Delivery._meta.db_table),
        order_by="c.priority, c.next_attempt_at, c.id",
        limit=limit,
        assign={
            "status": DeliveryStatus.SENDING,
            "claimed_at": now,
            "lease_until": lease_until(settings.NOTIFICATION_CLAIM_LEASE),
            "updated_at": now,
        },
        params={
            "channel": channel,
            "queued": DeliveryStatus.QUEUED,
            "retrying": DeliveryStatus.RETRYING,
            "sending": DeliveryStatus.SENDING,
            "now": now,
            "horizon": now + timedelta(seconds=ORDER_HORIZON),
        },
    )
    # RETURNING gives no order; send in the claim's order.
    claimed.sort(key=lambda d: (d.priority, d.next_attempt_at, d.pk))
    return claimed
