"""Claim leases (core/outbox/lease.py): a drain keeps the lease of what it holds while it works, and the
claims of a worker killed with SIGKILL come back one lease later, taken back by the restarted worker's
own drains with no scheduler running (before leases, a fixed two-minute timeout and the sweep)."""

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.notifications.channels.email import EmailChannel
from apps.notifications.models import Delivery
from apps.notifications.outbox.claim import deliveries_claim
from core.outbox.claim import rows_expired
from core.outbox.lease import LeaseKeeper
from tests.fakes.outbox import outbox_backlog
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.worker import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]


class LeaseMail(EmailChannel):
    """Email under a name of its own: only the private worker of these tests drains it."""

    name = "lease-mail"


CHANNELS = (
    "telegram=apps.notifications.channels.telegram.TelegramChannel,"
    "email=apps.notifications.channels.email.EmailChannel,"
    f"lease-mail={__name__}.LeaseMail"
)


def backlog(count: int) -> None:
    outbox_backlog("lease-mail", [f"lease{n}@example.com" for n in range(count)])


def sent() -> int:
    return Delivery.objects.filter(channel="lease-mail", status="sent").count()


def test_a_killed_workers_claims_come_back_within_a_lease_with_no_scheduler(
    stacks: Callable[..., Stack], fake_smtp: FakeSMTP
) -> None:
    backlog(200)
    fake_smtp.reset()
    fake_smtp.data_delay = 0.03  # a slow provider: the kill lands while a batch of 50 is in flight
    stack = stacks(
        queues="default,notifications.lease-mail",
        NOTIFICATION_CHANNELS=CHANNELS,
        NOTIFICATION_CLAIM_LEASE="3",
    )
    assert stack.worker is not None
    # Started after the backlog: the worker's start-up sweep wakes the channel (no beat runs).
    in_flight = wait_for(
        lambda: (
            len(fake_smtp.messages) >= 40
            and Delivery.objects.filter(channel="lease-mail", status="sending").count() > 10
        ),
        interval=0.01,
    )
    assert in_flight
    stack.worker.kill()
    held = Delivery.objects.filter(channel="lease-mail", status="sending").count()
    fake_smtp.data_delay = 0.0
    stack.worker.start()  # the broker is purged: only the outbox and the leases bring them back

    assert wait_for(lambda: sent() == 200, timeout=90, interval=0.2)

    per_recipient = Counter(str(m["To"]) for m in fake_smtp.messages)
    duplicates = sum(per_recipient.values()) - len(per_recipient)
    print(f"\nkill -9 with {held} claimed: all 200 delivered, {duplicates} duplicates")
    assert held > 10
    assert len(per_recipient) == 200
    assert duplicates <= 10 * 2  # what was sent and not yet recorded, per worker process


def test_a_drain_keeps_its_lease_while_it_works(settings: Any) -> None:
    settings.NOTIFICATION_CLAIM_LEASE = 0.6
    backlog(5)
    claimed = deliveries_claim(channel="lease-mail", limit=5)
    ids = [d.pk for d in claimed]

    with LeaseKeeper(Delivery, lease=0.6, sending="sending") as keeper:
        keeper.hold(ids)
        time.sleep(1.5)  # past two leases: a slow provider call
        expired_while_held = rows_expired(Delivery, sending="sending", now=timezone.now())

    assert expired_while_held == []
    assert keeper.renewals >= 2
    later = timezone.now() + timedelta(seconds=1)
    assert sorted(row[0] for row in rows_expired(Delivery, sending="sending", now=later)) == ids
