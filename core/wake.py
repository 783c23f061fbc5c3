"""Deduplicated wake-ups of drain tasks (the delivery drain of each channel, the webhook drain).

A drain takes everything due from its outbox, so one queued drain serves any number of commits: a
flag in Redis is set while a drain task is queued and not yet started (SET NX), and the drain clears
it when it starts, before it claims anything, so work committed after that wakes a new drain and is
never missed. A timer wake (a retry, a rate-limit slot, a probe) is one task with a countdown per
flag and tick (1/TIMER_TICKS s), so waits that end together share one drain. Waits longer than
MAX_TIMER are left to the periodic sweeps, so no countdown of hours sits in the broker.

Turns (the delivery drains): a drain runs while it holds one of its channel's turns, a key with a
short lifetime that it renews every batch. A wake while a drain holds a turn sends no task: it leaves
a request mark, and the drain, which gives its turn back with one script that also reads the mark,
drains again when a request came meanwhile. Both scripts run atomically in Redis, so either the wake
sees the turn held (and the holder sees the mark) or the holder has gone (and the wake sends a task):
nothing committed is missed, and a burst of commits during a long drain does not become a second
drain holding a second worker process that the other channels need. A drain task that finds every
turn held leaves its mark and ends at once, with a timer wake for when the turns expire (a holder
killed with SIGKILL gives nothing back). A channel may have more than one turn: a wake `beside` the
running drains (the pump's, when a batch came back full) sends a task only while one is free.
"""

import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from celery import current_app

from core.utils.redis import first_claim, get_redis

logger = logging.getLogger(__name__)

MAX_TIMER = 60.0
TIMER_TICKS = 20
# A flag outlives a lost task by at most this long (then the next commit wakes again).
WAKE_TTL = 30


# A turn lasts this long unless renewed (every batch); a killed holder blocks its channel this long.
TURN_TTL = 10.0

# KEYS: the woken flag, the request mark, the turns; ARGV: flag ttl (s), mark ttl (s), beside (0/1).
# 1: send a drain task. 0: a task is queued already, or a drain holds a turn and will see the mark
# (beside: every turn is held, so a drain beside the others could not run).
_WAKE = """
if ARGV[3] == '1' then
  local free = false
  for i = 3, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 0 then free = true end
  end
  if not free then return 0 end
else
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
  for i = 3, #KEYS do
    if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
  end
end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 1 end
return 0
"""

# KEYS: the request mark, the turns; ARGV: token, turn ttl (ms), mark ttl (s). The turn's key taken
# (the mark cleared: this drain will see everything committed so far), or the milliseconds until the
# first held turn expires.
_TAKE = """
redis.call('SET', KEYS[1], '1', 'EX', ARGV[3])
local soonest = -1
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then
    redis.call('DEL', KEYS[1])
    return KEYS[i]
  end
  local left = redis.call('PTTL', KEYS[i])
  if soonest < 0 or left < soonest then soonest = left end
end
return soonest
"""

# KEYS: the turn, the request mark; ARGV: token, turn ttl (ms), give back (0/1). Renews or gives back
# the turn if it is still this drain's; answers whether a request came since the turn was taken.
_TURN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[3] == '1' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return redis.call('EXISTS', KEYS[2])
"""


def _turn_keys(flag: str, turns: int) -> list[str]:
    return [f"{flag}:turn:{n}" for n in range(max(1, turns))]


def _mark_key(flag: str) -> str:
    return f"{flag}:requested"


def drain_wake(
    *,
    task: str,
    queue: str,
    flag: str,
    args: list[Any] | None = None,
    countdown: float = 0.0,
    priority: int = 6,
    turns: int = 0,
    beside: bool = False,
) -> None:
    """Make sure `task` runs now (or in `countdown` seconds). Never raises: the work is committed,
    and a sweep wakes the drain later if the broker cannot be reached now. With `turns` (the drain
    takes turns, see above), a drain holding one of them is as good as a task; `beside` asks for a
    drain beside the running ones, if a turn is free."""
    if countdown > MAX_TIMER:
        return
    if countdown > 0:
        moment = math.ceil((time.time() + countdown) * TIMER_TICKS)
        countdown = max(0.001, moment / TIMER_TICKS - time.time())
        if not first_claim(f"{flag}:timer:{moment}", ttl=int(countdown) + 2):
            return
    elif not (_wake_needed(flag, turns, beside=beside) if turns else first_claim(flag, ttl=WAKE_TTL)):
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


def _wake_needed(flag: str, turns: int, *, beside: bool) -> bool:
    client = get_redis()
    if client is None:
        return True
    keys = [flag, _mark_key(flag), *_turn_keys(flag, turns)]
    try:
        return bool(client.eval(_WAKE, len(keys), *keys, WAKE_TTL, WAKE_TTL, int(beside)))
    except redis.RedisError:
        return True  # a repeat is better than a missed wake


@dataclass
class Turn:
    """A drain's hold on one of its channel's turns (see the module's docstring)."""

    flag: str
    key: str  # "" when there is no Redis to take turns in: the drain runs unguarded
    token: str

    def renew(self) -> None:
        """Another TURN_TTL seconds: called every batch."""
        self._call(give_back=False)

    def give_back(self) -> bool:
        """End the turn; True when a wake came while it was held (the drain should go again)."""
        return self._call(give_back=True)

    def _call(self, *, give_back: bool) -> bool:
        client = get_redis()
        if not self.key or client is None:
            return False
        try:
            return bool(
                client.eval(
                    _TURN, 2, self.key, _mark_key(self.flag), self.token, int(TURN_TTL * 1000), int(give_back)
                )
            )
        except redis.RedisError:
            # The turn expires by itself. Whether a wake came is unknown; going again would spin for
            # as long as Redis is away, so the outbox sweep, which wakes every channel with due
            # deliveries, covers it.
            return False


def turn_take(flag: str, turns: int = 1) -> tuple[Turn | None, float]:
    """One of `flag`'s `turns`, or (None, seconds until the first held turn expires) when every one
    is held: this drain's request is left for the holders to see. Without Redis (the embedded mode,
    or Redis failing) a drain runs unguarded, as before turns."""
    token = uuid.uuid4().hex
    client = get_redis()
    if client is None:
        return Turn(flag, "", token), 0.0
    keys = [_mark_key(flag), *_turn_keys(flag, turns)]
    try:
        taken = client.eval(_TAKE, len(keys), *keys, token, int(TURN_TTL * 1000), WAKE_TTL)
    except redis.RedisError:
        return Turn(flag, "", token), 0.0
    if isinstance(taken, bytes | str):
        return Turn(flag, taken.decode() if isinstance(taken, bytes) else taken, token), 0.0
    return None, max(int(taken), 0) / 1000
