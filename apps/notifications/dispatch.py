"""The only place that hands work to Celery: wake-ups of the per-channel drain, and operator alerts.

Deliveries are not tasks. A commit that creates deliveries wakes its channels' drains; a drain takes
every due delivery of its channel in batches (outbox.pump). Wakes are deduplicated in Redis so a burst
of orders does not become a burst of empty tasks, and timer wakes bring a drain back when a wait ends
(core.wake). Waits longer than MAX_TIMER are left to the outbox sweep, which wakes every channel with
due deliveries each NOTIFICATION_SWEEP_INTERVAL.

Tasks are sent by name, so no module imports the tasks module back.
"""

import logging
import threading
from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.db import transaction

from apps.notifications.models import Priority
from core.wake import Turn, drain_started, drain_wake, turn_take

logger = logging.getLogger(__name__)

DRAIN_TASK = "apps.notifications.tasks.outbox_drain"
PLAN_TASK = "apps.notifications.tasks.order_events_plan"
SWEEP_TASK = "apps.notifications.tasks.outbox_sweep"
# The planner of order events: one at a time (its turn), so one order's events are planned in order.
PLAN_FLAG = "outbox:woken:order-events"
OPS_ALERT_TASK = "apps.notifications.tasks.ops_alert"
BROADCAST_TASK = "apps.notifications.tasks.broadcast"
TRACKING_TASK = "apps.notifications.tasks.provider_events_apply"
# The applier of email providers' tracking events: one at a time (its turn), like the planner.
TRACKING_FLAG = "outbox:woken:provider-events"
# Redis priority steps: lower is sooner. Order updates go before bulk sends.
TASK_PRIORITY: dict[str, int] = {Priority.HIGH: 0, Priority.NORMAL: 6}


def queue_of(channel: str) -> str:
    return f"notifications.{channel}"


def wake_key(channel: str) -> str:
    return f"outbox:woken:{channel}"


def drain_turns() -> int:
    """How many drains of one channel may run at once (NOTIFICATION_DRAIN_TURNS)."""
    return max(1, int(settings.NOTIFICATION_DRAIN_TURNS))


def served_channels() -> set[str]:
    """The channels whose queues this process's worker consumes (all of them outside a worker, or
    for a worker started without -Q)."""
    consumed = current_app.amqp.queues.consume_from
    channels = set(settings.NOTIFICATION_CHANNELS)
    if not consumed:
        return channels
    return {channel for channel in channels if queue_of(channel) in consumed}


def outbox_wake(
    channels: Iterable[str], *, countdown: float = 0.0, priority: str = Priority.NORMAL, beside: bool = False
) -> None:
    """Make sure a drain of each channel runs now (or in `countdown` seconds); a drain running now
    counts (it drains again for what woke it, see core.wake), unless `beside` asks for a second one.
    Never raises."""
    for channel in sorted(set(channels)):
        drain_wake(
            task=DRAIN_TASK,
            queue=queue_of(channel),
            flag=wake_key(channel),
            args=[channel, True] if beside else [channel],
            countdown=countdown,
            priority=TASK_PRIORITY.get(priority, 6),
            turns=drain_turns(),
            beside=beside,
        )


def outbox_drain_started(channel: str) -> None:
    """A drain task starts: later commits must wake another one."""
    drain_started(wake_key(channel))


def outbox_turn_take(channel: str, *, beside: bool = False) -> tuple[Turn | None, float]:
    """A turn to drain `channel`, or None and the seconds until the held turns expire. Only a drain
    woken to run beside another (a full batch, see outbox.pump) may take a turn after the first."""
    return turn_take(wake_key(channel), drain_turns() if beside else 1)


def outbox_wake_on_commit(channels: Iterable[str], *, priority: str = Priority.NORMAL) -> None:
    """Wake the drains of `channels` once the current transaction commits: however many calls a
    transaction makes (a planner writing a batch of notifications), each channel is woken once."""
    pending = _pending_wakes()
    pending.update(channels)
    if priority == Priority.HIGH:
        pending.add(_HIGH)
    transaction.on_commit(_wake_pending)


_HIGH = "\x00high"
_local = threading.local()


def _pending_wakes() -> set[str]:
    """This thread's channels waiting for its transaction to commit (a thread's own: another
    thread's commit must not wake for work this thread has not committed yet)."""
    if not hasattr(_local, "wakes"):
        _local.wakes = set()
    return _local.wakes


def _wake_pending() -> None:
    """Each registered commit callback wakes what is pending; the first one takes it all, the rest
    find nothing. (A transaction that rolled back leaves its channels for the next commit: a wake
    too many costs at most an empty drain.)"""
    pending = _pending_wakes()
    if not pending:
        return
    channels = set(pending)
    pending.clear()
    priority = Priority.HIGH if _HIGH in channels else Priority.NORMAL
    outbox_wake(channels - {_HIGH}, priority=priority)


def events_wake(countdown: float = 0.0) -> None:
    """Make sure the order events planner runs now (or in `countdown` seconds); never raises."""
    drain_wake(task=PLAN_TASK, queue="default", flag=PLAN_FLAG, countdown=countdown, priority=0, turns=1)


def events_wake_on_commit() -> None:
    transaction.on_commit(events_wake)


def events_turn_take() -> tuple[Turn | None, float]:
    return turn_take(PLAN_FLAG, 1)


def events_drain_started() -> None:
    drain_started(PLAN_FLAG)


def provider_events_wake(countdown: float = 0.0) -> None:
    """Make sure a worker applies the stored tracking events now; never raises."""
    drain_wake(
        task=TRACKING_TASK, queue="default", flag=TRACKING_FLAG, countdown=countdown, priority=0, turns=1
    )


def provider_events_turn_take() -> tuple[Turn | None, float]:
    return turn_take(TRACKING_FLAG, 1)


def provider_events_started() -> None:
    drain_started(TRACKING_FLAG)


def on_worker_ready(**_: object) -> None:
    """A worker (re)started: run a sweep now rather than at the scheduler's next beat, so what a
    killed worker left (claims whose lease runs out, wakes it took down with it) is picked up at once;
    the sweep's drains leave timer wakes for leases still running."""
    try:
        current_app.send_task(SWEEP_TASK, queue="default", retry=False)
    except Exception:  # the broker is down: the scheduler's sweep comes anyway
        logger.warning("Could not queue the start-up sweep")


def ops_alert_enqueue(*, channel: str, subject: str, body: str) -> None:
    try:
        current_app.send_task(OPS_ALERT_TASK, args=[channel, subject, body], queue="default", retry=False)
    except Exception:  # the broker is down: the failure is logged and in the dead letters anyway
        logger.warning("Could not enqueue the ops alert: %s", subject)


def broadcast_enqueue(data: dict[str, object]) -> None:
    """Hand a validated broadcast request to a worker; raises when the broker cannot take it (the
    request is stored nowhere else, so the caller must learn it was not accepted)."""
    current_app.send_task(BROADCAST_TASK, args=[data], queue="default", retry=False)
