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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min
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
from apps.notifications.models import Delivery, DeliveryStatus, Notification, SkipReason
from apps.notifications.outbox.claim import deliveries_claim
from apps.notifications.outbox.record import Outcome, deliveries_release, deliveries_skip, outcomes_record
from core.patterns.circuit_breaker import CircuitBreaker
from core.patterns.rate_limit import RateLimitUnavailable
from core.wake import MAX_TIMER, TIMER_TICKS

logger = logging.getLogger(__name__)

# Without the shared limiter we cannot know the provider's budget: wait, do not guess.
RATE_LIMIT_UNAVAILABLE_WAIT = 5.0
# A half-open circuit lets one probe through; the rest of the batch tries again after this long.
PROBE_WAIT = 1.0
# A drain waits until this many of the provider's rate-limit slots are free (or a batch's worth).
RATE_CHUNK = 10
# Seconds a batch may run past the drain's budget before its rest is given back (the task's soft
# time limit is 60 s; the budget NOTIFICATION_DRAIN_SECONDS, 1 s by default).
OVERRUN = 30.0
# Another channel's deliveries due within this many seconds keep a backlog to one drain (see
# _others_due): longer than the waits of a rate-limited channel between its windows.
OTHERS_HORIZON = 2.0


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    batches: int = 0
    next_due_in: float | None = None
    out_of_time: bool = False


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
    budget = settings.NOTIFICATION_DRAIN_SECONDS if budget is None else budget
    size = batch_size or settings.NOTIFICATION_BATCH_SIZE
    deadline = time.monotonic() + budget
    result = DrainResult()
    sender = channel_factory.get(channel)
    while True:
        if time.monotonic() >= deadline:
            result.out_of_time = True
            break
        if each_batch is not None:
            each_batch()
        free = _capacity(sender, result, want=min(size, RATE_CHUNK))
        if free <= 0:
            break  # the provider's limit is (nearly) used up: a timer wake comes back for the rest
        checked = timezone.now()
        batch = deliveries_claim(channel=channel, limit=min(size, free))
        if not batch:
            # Whatever waits now was due later than `checked`: the timer wake below is for the
            # earliest of those, not for a wait noted earlier in this drain (which another batch
            # may have turned into a longer one, as a circuit that opened meanwhile does).
            _note_due(result, _next_due_in(channel, after=checked))
            break
        result.batches += 1
        if len(batch) == size and dispatch.drain_turns() > 1 and not _others_due(channel):
            # More is due than one batch: let another worker process start draining beside us.
            dispatch.outbox_wake([channel], beside=True)
        _drain_batch(sender, channel, batch, result, deadline=deadline + OVERRUN)
    if not result.out_of_time and result.next_due_in is not None:
        dispatch.outbox_wake([channel], countdown=result.next_due_in)
    return result


def _capacity(sender: Channel, result: DrainResult, *, want: int) -> int:
    """How many deliveries to claim: no more than the provider's shared limit lets go now, so a
    Telegram backlog is not claimed only to be given back. While fewer than `want` slots are free
    the drain waits for them: slots of a busy window free one by one, and a drain per slot would
    spend more on waking than on sending."""
    try:
        free, wait = sender.capacity(want)
    except RateLimitUnavailable:
        free, wait = 0, RATE_LIMIT_UNAVAILABLE_WAIT
    if free >= want:
        return free
    if _due_exists(sender.name):
        _note_wait(result, wait)
    return 0


def _next_due_in(channel: str, *, after: datetime) -> float | None:
    """Seconds until the earliest waiting delivery of `channel` due after `after` is due (at least one
    timer tick), or None when none is due within a timer's reach (later ones are the sweep's)."""
    due = Delivery.objects.filter(
        channel=channel,
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING],
        next_attempt_at__gt=after,
        next_attempt_at__lte=after + timedelta(seconds=MAX_TIMER),
    ).aggregate(due=Min("next_attempt_at"))["due"]
    if due is None:
        return None
    return max((due - timezone.now()).total_seconds(), 1 / TIMER_TICKS)


def _others_due(channel: str) -> bool:
    """Whether another channel this worker serves has deliveries due now or within OTHERS_HORIZON
    (a Telegram backlog between two rate-limit windows): then its drains need the worker's other
    process more than this backlog does."""
    others = dispatch.served_channels() - {channel}
    return bool(others) and (
        Delivery.objects.filter(
            channel__in=sorted(others),
            status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING],
            next_attempt_at__lte=timezone.now() + timedelta(seconds=OTHERS_HORIZON),
        ).exists()
    )


def _due_exists(channel: str) -> bool:
    return Delivery.objects.filter(
        channel=channel,
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING],
        next_attempt_at__lte=timezone.now(),
    ).exists()


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
    batch, probing = _through_circuit(channel, batch, result)
    batch = _through_rate_limits(sender, batch, result)
    if probing and not batch:
        breaker_for(channel).release_probe()  # the probe waits for a slot: let the next drain probe
    _send_all(sender, channel, batch, result, deadline=deadline)


def _note_due(result: DrainResult, wait: float | None) -> None:
    """Something is due again in `wait` seconds: the drain's timer wake must come by then."""
    if wait is None:
        return
    if result.next_due_in is None or wait < result.next_due_in:
        result.next_due_in = wait


def _note_wait(result: DrainResult, wait: float, count: int = 1) -> None:
    result.waiting += count
    _note_due(result, wait)


def _through_circuit(channel: str, batch: list[Delivery], result: DrainResult) -> tuple[list[Delivery], bool]:
    """What the channel's circuit lets through now, and whether that is a half-open probe; the rest
    waits (a failover notification skips to its next channel instead)."""
    decision = breaker_for(channel).before_call()
    if decision.allowed and decision.state == "closed":
        return batch, False
    allowed = batch[:1] if decision.allowed else []  # half-open: one probe
    held = batch[len(allowed) :]
    failover = [d for d in held if d.notification.strategy == "failover" and decision.state == "open"]
    if failover:
        deliveries_skip(failover, SkipReason.CIRCUIT_OPEN)
    waiting = [d for d in held if d not in failover]
    if waiting:
        wait = decision.retry_in if not decision.allowed else PROBE_WAIT
        deliveries_release({d.pk: (d, wait) for d in waiting}, reason=f"circuit {decision.state}")
        _note_wait(result, wait, len(waiting))
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
            _note_wait(result, wait)
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
        if start and breaker.state() != "closed":
            wait = breaker.reset_timeout
            deliveries_release({d.pk: (d, wait) for d in rest}, reason="circuit open")
            _note_wait(result, wait, len(rest))
            return
        chunk = batch[start : start + every]
        now = timezone.now()

        def stop(sent: Sent) -> bool:
            """After each send: count a provider failure; stop when the circuit opened under us."""
            error = sent.error
            if error is None or not error.transient or error.retry_after is not None:
                return False
            breaker.record_failure()
            return breaker.state() != "closed"

        sent = sender.send_many([_message_of(sender, d, now) for d in chunk], stop=stop)
        outcomes = [
            Outcome(d, s.started_at or now, s.duration_ms, s.provider_id, s.error)
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
            _note_wait(result, wait, len(held))
            return


def _flush(outcomes: list[Outcome], breaker: CircuitBreaker, result: DrainResult) -> None:
    last = outcomes[-1].error
    if last is None or not last.transient:
        breaker.record_success()  # the provider answered, even if it refused a message
    summary = outcomes_record(outcomes)
    result.sent += summary.sent
    result.failed += summary.failed
    if summary.next_due_in is not None:
        _note_due(result, summary.next_due_in)
