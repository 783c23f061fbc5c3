"""The only place that hands work to Celery: wake-ups of the per-channel drain, and operator alerts.

Deliveries are not tasks. A commit that creates deliveries wakes its channels' drains; a drain takes
every due delivery of its channel in batches (outbox.pump). Wakes are deduplicated in Redis so a burst
of orders does not become a burst of empty tasks: `outbox:woken:<channel>` is set while a drain task is
queued and not yet started (the drain deletes it when it starts, before it claims anything, so a
delivery committed after that wakes a new drain and is never missed). A timer wake (a delivery waiting
for a rate-limit slot, a circuit probe, a short retry) is one task with a countdown per channel and
moment. Waits longer than MAX_TIMER are left to the outbox sweep, which wakes every channel with due
deliveries each NOTIFICATION_SWEEP_INTERVAL, so no countdown of hours sits in the broker.

Tasks are sent by name, so no module imports the tasks module back.
"""

import logging
import math
import time
from collections.abc import Iterable

from celery import current_app

from core.utils.redis import first_claim, get_redis

logger = logging.getLogger(__name__)

DRAIN_TASK = "apps.notifications.tasks.outbox_drain"
OPS_ALERT_TASK = "apps.notifications.tasks.ops_alert"
BROADCAST_TASK = "apps.notifications.tasks.broadcast"
# Longest countdown a timer wake may carry; longer waits are the sweep's.
MAX_TIMER = 60.0
# Timer wakes are rounded up to 1/TIMER_TICKS s, and one task serves each channel and tick.
TIMER_TICKS = 20
# A wake flag outlives a lost task by at most this long (then the next commit wakes again).
WAKE_TTL = 30
# Redis priority steps: lower is sooner. Order updates go before bulk sends.
TASK_PRIORITY = {"high": 0, "normal": 6}


def queue_of(channel: str) -> str:
    return f"notifications.{channel}"


def wake_key(channel: str) -> str:
    return f"outbox:woken:{channel}"


def outbox_wake(channels: Iterable[str], *, countdown: float = 0.0, priority: str = "normal") -> None:
    """Make sure a drain of each channel runs now (or in `countdown` seconds). Never raises: the rows
    are committed, and the sweep wakes the channel later if the broker cannot be reached now."""
    if countdown > MAX_TIMER:
        return
    if countdown > 0:
        # One timer per channel and tick: waits that end together share one drain.
        moment = math.ceil((time.time() + countdown) * TIMER_TICKS)
        countdown = max(0.001, moment / TIMER_TICKS - time.time())
    for channel in sorted(set(channels)):
        if countdown > 0:
            if not first_claim(f"outbox:timer:{channel}:{moment}", ttl=int(countdown) + 2):
                continue
        elif not first_claim(wake_key(channel), ttl=WAKE_TTL):
            continue
        try:
            current_app.send_task(
                DRAIN_TASK,
                args=[channel],
                queue=queue_of(channel),
                countdown=countdown or None,
                priority=TASK_PRIORITY.get(priority, 6),
                retry=False,
            )
        except Exception:  # kombu/redis raise many kinds; any of them means "not enqueued now"
            logger.warning("Could not wake the %s drain (broker down?); the outbox sweep will", channel)
            _forget(wake_key(channel))


def outbox_drain_started(channel: str) -> None:
    """A drain task starts: later commits must wake another one (see the module docstring)."""
    _forget(wake_key(channel))


def _forget(key: str) -> None:
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(key)
    except Exception:
        logger.debug("could not clear %s", key, exc_info=True)


def ops_alert_enqueue(*, channel: str, subject: str, body: str) -> None:
    try:
        current_app.send_task(OPS_ALERT_TASK, args=[channel, subject, body], queue="default", retry=False)
    except Exception:  # the broker is down: the failure is logged and in the dead letters anyway
        logger.warning("Could not enqueue the ops alert: %s", subject)


def broadcast_enqueue(data: dict[str, object]) -> None:
    """Hand a validated broadcast request to a worker; raises when the broker cannot take it (the
    request is stored nowhere else, so the caller must learn it was not accepted)."""
    current_app.send_task(BROADCAST_TASK, args=[data], queue="default", retry=False)
