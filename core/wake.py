"""Deduplicated wake-ups of drain tasks (the delivery drain of each channel, the webhook drain).

A drain takes everything due from its outbox, so one queued drain serves any number of commits: a
flag in Redis is set while a drain task is queued and not yet started (SET NX), and the drain clears
it when it starts, before it claims anything, so work committed after that wakes a new drain and is
never missed. A timer wake (a retry, a rate-limit slot, a probe) is one task with a countdown per
flag and tick (1/TIMER_TICKS s), so waits that end together share one drain. Waits longer than
MAX_TIMER are left to the periodic sweeps, so no countdown of hours sits in the broker.
"""

import logging
import math
import time
from typing import Any

from celery import current_app

from core.utils.redis import first_claim, get_redis

logger = logging.getLogger(__name__)

MAX_TIMER = 60.0
TIMER_TICKS = 20
# A flag outlives a lost task by at most this long (then the next commit wakes again).
WAKE_TTL = 30


def drain_wake(
    *,
    task: str,
    queue: str,
    flag: str,
    args: list[Any] | None = None,
    countdown: float = 0.0,
    priority: int = 6,
) -> None:
    """Make sure `task` runs now (or in `countdown` seconds). Never raises: the work is committed,
    and a sweep wakes the drain later if the broker cannot be reached now."""
    if countdown > MAX_TIMER:
        return
    if countdown > 0:
        moment = math.ceil((time.time() + countdown) * TIMER_TICKS)
        countdown = max(0.001, moment / TIMER_TICKS - time.time())
        if not first_claim(f"{flag}:timer:{moment}", ttl=int(countdown) + 2):
            return
    elif not first_claim(flag, ttl=WAKE_TTL):
        return
    try:
        current_app.send_task(
            task, args=args or [], queue=queue, countdown=countdown or None, priority=priority, retry=False
        )
    except Exception:  # kombu/redis raise many kinds; any of them means "not enqueued now"
        logger.warning("Could not wake %s (broker down?); the sweep will", task)
        if not countdown:
            drain_started(flag)


def drain_started(flag: str) -> None:
    """A drain task starts: later commits must wake another one."""
    client = get_redis()
    if client is None:
        return
    try:
        client.delete(flag)
    except Exception:
        logger.debug("could not clear %s", flag, exc_info=True)
