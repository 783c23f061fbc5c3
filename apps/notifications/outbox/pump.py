"""The pump: drain one channel's due deliveries in batches, over the channel's open connection.

One call of `outbox_drain` claims a batch (outbox.claim), decides what may go now (circuit, rate-limit
slots for the whole batch at once), gives back what must wait with its due time, sends the rest in
chunks of NOTIFICATION_RECORD_EVERY (a channel may send a chunk over several connections at once) and
records each chunk's outcomes in bulk (outbox.record), then claims the next batch, until nothing is due
or its time budget is spent. Nothing sleeps: a delivery that has to
wait returns to the outbox and a timer wake (dispatch) brings a drain back when it is due.

Every drain that ends with nothing claimable leaves a timer wake for the earliest waiting delivery of
its channel, read from the outbox itself: a wait noted earlier in the drain may have become longer
since (a circuit that opened re-released a retry), and the drain woken too early must not end the
chain of wakes.
"""

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.customers.preferences import unsubscribe_url
from apps.notifications import dispatch
from apps.notifications.channels import (
    Channel,
    OutgoingMessage,
    Sent,
    channel_factory,
)
from apps.notifications.circuits import breaker_for
from apps.notifications.digests import digests_close
from apps.notifications.models import (
    WAITING_DELIVERY_STATUSES,
    Delivery,
    DeliveryStatus,
    Notification,
    SkipReason,
    Strategy,
)
from apps.notifications.outbox.claim import deliveries_claim
from apps.notifications.outbox.record import Outcome, deliveries_release, deliveries_skip, outcomes_record
from apps.notifications.outbox.sweep import deliveries_reclaim_expired
from apps.notifications.status import notifications_started
from apps.notifications.suppressions import deliveries_suppressed
from core.outbox.drain import Drain, DrainResult, Due, due_read
from core.patterns.circuit_breaker import CLOSED, OPEN, CircuitBreaker
from core.patterns.rate_limit import RateLimitUnavailable
from core.wake import MAX_TIMER

logger = logging.getLogger(__name__)

# Without the shared limiter we cannot know the provider's budget: wait, do not guess.
RATE_LIMIT_UNAVAILABLE_WAIT = 5.0
# A half-open circuit lets one probe through; the rest of the batch tries again after this long.
PROBE_WAIT = 1.0
# A drain waits until this many of the provider's rate-limit slots are free (or a batch's worth).
RATE_CHUNK = 10
# Another channel's deliveries due within this many seconds keep a backlog to one drain (see
# _others_due): longer than the waits of a rate-limited channel between its windows.
OTHERS_HORIZON = 2.0
# A drain with a backlog looks for digest windows to close this often (and on its first claim).
DIGEST_CHECK = 0.5


def outbox_drain(
    *,
    channel: str,
    budget: float | None = None,
    batch_size: int | None = None,
    each_batch: Callable[[], None] | None = None,
) -> DrainResult:
    """Send `channel`'s due deliveries until none is left or `budget` seconds have passed (then
    `out_of_time` is set, and the caller wakes the next drain: after giving its turn back, see
    core.wake). `each_batch` is called before every claim (the task renews its turn)."""
    drain = DeliveryDrain(
        channel,
        batch_size=batch_size or settings.NOTIFICATION_BATCH_SIZE,
        lease=settings.NOTIFICATION_CLAIM_LEASE,
    )
    budget = settings.NOTIFICATION_DRAIN_SECONDS if budget is None else budget
    return drain.run(budget=budget, each_batch=each_batch)


class DeliveryDrain(Drain):
    """The drain of one channel's deliveries (core.outbox.drain runs the loop)."""

    model = Delivery
    sending = DeliveryStatus.SENDING

    def __init__(self, channel: str, *, batch_size: int, lease: float) -> None:
        super().__init__(batch_size=batch_size, lease=lease)
        self.channel = channel
        self.sender = channel_factory.get(channel)
        self.digests_checked: float | None = None

    def reclaim(self) -> int:
        return deliveries_reclaim_expired(channel=self.channel)

    def capacity(self, result: DrainResult) -> int:
        """How many deliveries to claim: no more than the provider's shared limit lets go now, so a
        Telegram backlog is not claimed only to be given back. While fewer than RATE_CHUNK slots are
        free the drain waits for them: slots of a busy window free one by one, and a drain per slot
        would spend more on waking than on sending."""
        want = min(self.batch_size, RATE_CHUNK)
        try:
            free, wait = self.sender.capacity(want)
        except RateLimitUnavailable:
            free, wait = 0, RATE_LIMIT_UNAVAILABLE_WAIT
        if free >= want:
            return min(self.batch_size, free)
        if Delivery.objects.filter(channel=self.channel).due().exists():
            result.note_wait(wait)
        return 0

    def claim(self, limit: int) -> list[Delivery]:
        # Digest windows due to close: their digests are claimed below. Checked on a drain's first
        # claim (a timer wakes a drain when a window ends) and then at most every DIGEST_CHECK seconds.
        now = time.monotonic()
        if self.digests_checked is None or now - self.digests_checked >= DIGEST_CHECK:
            self.digests_checked = now
            digests_close(channel=self.channel, limit=limit)
        return deliveries_claim(channel=self.channel, limit=limit)

    def claimed(self, batch: Sequence[Any], limit: int, result: DrainResult) -> None:
        notifications_started({d.notification_id for d in batch if d.send_at is not None})
        if len(batch) == self.batch_size and dispatch.drain_turns() > 1 and not _others_due(self.channel):
            # More is due than one batch: let another worker process start draining beside us.
            dispatch.outbox_wake([self.channel], beside=True)

    def send(self, batch: Sequence[Any], result: DrainResult, *, deadline: float) -> None:
        _drain_batch(self.sender, self.channel, list(batch), result, deadline=deadline)

    def due(self, *, after: datetime) -> Due:
        return due_read(
            Delivery.objects.filter(channel=self.channel),
            waiting=list(WAITING_DELIVERY_STATUSES),
            sending=DeliveryStatus.SENDING,
            after=after,
            horizon=MAX_TIMER,
        )

    def wake(self, *, countdown: float) -> None:
        dispatch.outbox_wake([self.channel], countdown=countdown)


def _others_due(channel: str) -> bool:
    """Whether another channel this worker serves has deliveries due now or within OTHERS_HORIZON
    (a Telegram backlog between two rate-limit windows): then its drains need the worker's other
    process more than this backlog does."""
    others = dispatch.served_channels() - {channel}
    soon = timezone.now() + timedelta(seconds=OTHERS_HORIZON)
    return bool(others) and Delivery.objects.filter(channel__in=sorted(others)).due(soon).exists()


def _drain_batch(
    sender: Channel, channel: str, batch: list[Delivery], result: DrainResult, *, deadline: float
) -> None:
    notifications = Notification.objects.select_related("customer").in_bulk(
        {d.notification_id for d in batch}
    )
    batch = [d for d in batch if d.notification_id in notifications]  # deleted meanwhile: nothing to send
    for delivery in batch:
        delivery.notification = notifications[delivery.notification_id]
    if not sender.is_configured():
        deliveries_skip(batch, SkipReason.NOT_CONFIGURED)
        return
    suppressed = deliveries_suppressed(channel, batch)
    if suppressed:
        deliveries_skip(suppressed, SkipReason.SUPPRESSED)
        batch = [d for d in batch if d not in suppressed]
    batch, probing = _through_circuit(channel, batch, result)
    batch = _through_rate_limits(sender, batch, result)
    if probing and not batch:
        breaker_for(channel).release_probe()  # the probe waits for a slot: let the next drain probe
    _send_all(sender, channel, batch, result, deadline=deadline)


def _through_circuit(channel: str, batch: list[Delivery], result: DrainResult) -> tuple[list[Delivery], bool]:
    """What the channel's circuit lets through now, and whether that is a half-open probe; the rest
    waits (a failover notification skips to its next channel instead)."""
    decision = breaker_for(channel).before_call()
    if decision.allowed and decision.state == CLOSED:
        return batch, False
    allowed = batch[:1] if decision.allowed else []  # half-open: one probe
    held = batch[len(allowed) :]
    failover = [d for d in held if d.notification.strategy == Strategy.FAILOVER and decision.state == OPEN]
    if failover:
        deliveries_skip(failover, SkipReason.CIRCUIT_OPEN)
    waiting = [d for d in held if d not in failover]
    if waiting:
        wait = decision.retry_in if not decision.allowed else PROBE_WAIT
        deliveries_release({d.pk: (d, wait) for d in waiting}, reason=f"circuit {decision.state}")
        result.note_wait(wait, len(waiting))
    return allowed, decision.allowed


def _through_rate_limits(sender: Channel, batch: list[Delivery], result: DrainResult) -> list[Delivery]:
    """Take the provider's rate-limit slots for the whole batch at once; whoever got none waits."""
    if not batch:
        return batch
    try:
        waits = sender.reserve_many([d.address for d in batch])
    except RateLimitUnavailable:
        logger.warning("Rate limiter unavailable (Redis down); %d deliveries wait", len(batch))
        waits = [RATE_LIMIT_UNAVAILABLE_WAIT] * len(batch)
    held = {d.pk: (d, wait) for d, wait in zip(batch, waits, strict=True) if wait > 0}
    if held:
        deliveries_release(held, reason="rate limit")
        for _, wait in held.values():
            result.note_wait(wait)
    return [d for d in batch if d.pk not in held]


def _message_of(sender: Channel, delivery: Delivery, now: datetime) -> OutgoingMessage:
    notification = delivery.notification
    return OutgoingMessage(
        address=delivery.address,
        subject=delivery.subject,
        body=delivery.body,
        body_plain=delivery.body_plain,
        body_html=delivery.body_html,
        unsubscribe_url=unsubscribe_url(
            customer_id=notification.customer_id, category=notification.category, channel=delivery.channel
        )
        if sender.carries_unsubscribe
        else "",
        silent=notification.customer.quiet_hours_end_after(now) is not None,
        delivery_id=delivery.pk,
        notification_id=notification.pk,
        customer_id=notification.customer_id,
        category=notification.category,
    )


def _send_all(
    sender: Channel, channel: str, batch: list[Delivery], result: DrainResult, *, deadline: float
) -> None:
    """Send in chunks of NOTIFICATION_RECORD_EVERY (the channel may send a chunk over several
    connections at once) and record each chunk's outcomes before the next, so a worker killed
    mid-batch can duplicate only the chunk it was sending. A circuit that opens, or a provider so slow
    that the batch outlives the drain's time, gives the rest back."""
    breaker = breaker_for(channel)
    every = max(1, settings.NOTIFICATION_RECORD_EVERY)
    for start in range(0, len(batch), every):
        rest = batch[start:]
        if time.monotonic() > deadline:
            deliveries_release({d.pk: (d, 0.0) for d in rest}, reason="drain out of time")
            result.out_of_time = True
            return
        if start and breaker.state() != CLOSED:
            wait = breaker.reset_timeout
            deliveries_release({d.pk: (d, wait) for d in rest}, reason="circuit open")
            result.note_wait(wait, len(rest))
            return
        chunk = batch[start : start + every]
        now = timezone.now()

        def stop(sent: Sent) -> bool:
            """After each send: count a provider failure; stop when the circuit opened under us."""
            error = sent.error
            if error is None or not error.transient or error.retry_after is not None:
                return False
            breaker.record_failure()
            return breaker.state() != CLOSED

        sent = sender.send_many([_message_of(sender, d, now) for d in chunk], stop=stop)
        outcomes = [
            Outcome(d, s.started_at or now, s.duration_ms, s.provider_id, s.error, s.provider, s.hops)
            for d, s in zip(chunk, sent, strict=True)
            if s is not None
        ]
        if outcomes:
            _flush(outcomes, breaker, result)
        unsent = [d for d, s in zip(chunk, sent, strict=True) if s is None]
        if unsent:
            wait = breaker.reset_timeout
            held = unsent + batch[start + every :]
            deliveries_release({d.pk: (d, wait) for d in held}, reason="circuit open")
            result.note_wait(wait, len(held))
            return


def _flush(outcomes: list[Outcome], breaker: CircuitBreaker, result: DrainResult) -> None:
    last = outcomes[-1].error
    if last is None or not last.transient:
        breaker.record_success()  # the provider answered, even if it refused a message
    summary = outcomes_record(outcomes)
    result.sent += summary.sent
    result.failed += summary.failed
    if summary.next_due_in is not None:
        result.note_due(summary.next_due_in)
