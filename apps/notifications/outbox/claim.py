"""The batch claim: due deliveries of one channel move to `sending` in one statement, and only the
claimant sends them.

On PostgreSQL the candidate rows are locked with FOR UPDATE SKIP LOCKED inside the claiming UPDATE,
so workers claiming at the same moment take disjoint batches without waiting for each other. SQLite
(the embedded mode) has no row locks; its writers take turns on the whole database, which gives the
same result.

Order: high-priority deliveries first, then by due time and acceptance (id). Per recipient (channel
and address) first attempts go out in the order they were accepted: a delivery is not claimed while an
earlier one to the same recipient is waiting for its first attempt (queued, or being sent) and due
within ORDER_HORIZON seconds. A delivery retrying after a provider failure holds back nobody, and a
message held for the customer's quiet hours (due later than the horizon) does not hold back an order
update.
"""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from apps.notifications.models import Delivery, DeliveryStatus

# An earlier undelivered message to the same recipient due within this many seconds holds back the
# later ones; a rate-limit or circuit wait is shorter, quiet hours are longer.
ORDER_HORIZON = 60.0

_CLAIM = """
UPDATE {table} SET status = %(sending)s, claimed_at = %(now)s, updated_at = %(now)s
WHERE id IN (
    SELECT c.id FROM {table} c
    WHERE c.channel = %(channel)s
      AND c.status IN (%(queued)s, %(retrying)s)
      AND c.next_attempt_at <= %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM {table} e
          WHERE e.channel = c.channel AND e.address = c.address AND e.id < c.id
            AND e.status IN (%(queued)s, %(sending)s) AND e.attempts = 0
            AND e.next_attempt_at <= %(horizon)s
      )
    ORDER BY c.priority, c.next_attempt_at, c.id
    LIMIT %(limit)s
    {lock}
)
RETURNING *
"""


def deliveries_claim(*, channel: str, limit: int) -> list[Delivery]:
    """Claim up to `limit` due deliveries of `channel`; returns them in the order to send them."""
    now = timezone.now()
    lock = "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = _CLAIM.format(table=Delivery._meta.db_table, lock=lock)
    params = {
        "sending": DeliveryStatus.SENDING,
        "queued": DeliveryStatus.QUEUED,
        "retrying": DeliveryStatus.RETRYING,
        "channel": channel,
        "now": connection.ops.adapt_datetimefield_value(now),
        "horizon": connection.ops.adapt_datetimefield_value(now + timedelta(seconds=ORDER_HORIZON)),
        "limit": limit,
    }
    claimed = list(Delivery.objects.raw(sql, params))
    # RETURNING gives no order; send in the claim's order.
    claimed.sort(key=lambda d: (d.priority, d.next_attempt_at, d.pk))
    return claimed
