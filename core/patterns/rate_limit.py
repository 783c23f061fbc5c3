"""Sliding-window rate limits shared by every process through Redis.

`acquire(limits)` takes one slot in each (key, count, window) limit atomically, or none: a Lua script
drops entries older than the window from each key's sorted set, and only when every key has room does
it record the send in all of them. Otherwise it answers how long to wait. Time comes from the Redis
server, so workers on different machines share one clock. A sliding log never allows a burst above the
limit in any rolling window, which a token bucket that starts full would.
"""

import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass

import redis

from core.utils.redis import get_redis


@dataclass(frozen=True)
class Limit:
    key: str
    count: int
    window: float  # seconds


# KEYS: the limit keys; ARGV: count1, window1, count2, window2, ..., member
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local member = ARGV[#ARGV]
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= count then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[2 * i]) * 1000) + 1000)
end
return '0'
"""


# KEYS: the shared key, then one key per item; ARGV: shared count, shared window, item count, item
# window, member prefix. One slot per item, in order, each only when both the shared and its own limit
# have room; the answer lists the wait of every item (0: its slot was taken).
_ACQUIRE_EACH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local shared_count, shared_window = tonumber(ARGV[1]), tonumber(ARGV[2])
local item_count, item_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local shared = KEYS[1]
redis.call('ZREMRANGEBYSCORE', shared, '-inf', now - shared_window)
local used = redis.call('ZCARD', shared)
local waits = {}
for i = 2, #KEYS do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - item_window)
  local wait = 0
  if used >= shared_count then
    local oldest = redis.call('ZRANGE', shared, used - shared_count, used - shared_count, 'WITHSCORES')
    wait = tonumber(oldest[2]) + shared_window - now
  end
  if redis.call('ZCARD', key) >= item_count then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + item_window - now
    if w > wait then wait = w end
  end
  if wait <= 0 then
    local member = ARGV[5] .. ':' .. i
    redis.call('ZADD', shared, now, member)
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(item_window * 1000) + 1000)
    used = used + 1
    wait = 0
  end
  waits[#waits + 1] = tostring(wait)
end
redis.call('PEXPIRE', shared, math.ceil(shared_window * 1000) + 1000)
return waits
"""


# KEYS: the limit key; ARGV: count, window, want. Free slots now, and when fewer than `want` are
# free, the seconds until `want` will be.
_AVAILABLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local count, window, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local free = count - used
if free < 0 then free = 0 end
if free >= want then return {free, '0'} end
local entry = redis.call('ZRANGE', KEYS[1], used - count + want - 1, used - count + want - 1, 'WITHSCORES')
return {free, tostring(tonumber(entry[2]) + window - now)}
"""


# KEYS: a one-slot limit's key; ARGV: its window. The slot counts from now: when the send was done.
_SENT = """
local t = redis.call('TIME')
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(t[2]) / 1000000, 'sent')
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
"""


class RateLimitUnavailable(Exception):
    """The shared store cannot be reached; callers should wait rather than send unlimited."""


class _LocalLimiter:
    """In-process stand-in for the embedded mode (no Redis): limits each process on its own."""

    def __init__(self) -> None:
        self._log: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def acquire(self, limits: list[Limit]) -> float:
        with self._lock:
            now = time.monotonic()
            wait = 0.0
            for limit in limits:
                log = self._log[limit.key]
                while log and log[0] <= now - limit.window:
                    log.popleft()
                if len(log) >= limit.count:
                    wait = max(wait, log[0] + limit.window - now)
            if wait == 0:
                for limit in limits:
                    self._log[limit.key].append(now)
            return wait

    def available(self, limit: Limit, want: int) -> tuple[int, float]:
        with self._lock:
            now = time.monotonic()
            log = self._log[limit.key]
            while log and log[0] <= now - limit.window:
                log.popleft()
            free = max(0, limit.count - len(log))
            if free >= want:
                return free, 0.0
            return free, log[len(log) - limit.count + want - 1] + limit.window - now

    def acquire_each(self, shared: Limit, items: list[Limit]) -> list[float]:
        return [self.acquire([shared, item]) for item in items]

    def sent(self, item: Limit) -> None:
        with self._lock:
            self._log[item.key] = deque([time.monotonic()])


_local = _LocalLimiter()


def acquire(limits: list[Limit]) -> float:
    """0 when a slot was taken in every limit; otherwise the seconds to wait before trying again."""
    client = get_redis()
    if client is None:
        return _local.acquire(limits)
    args: list[str | float | int] = []
    for limit in limits:
        args += [limit.count, limit.window]
    args.append(uuid.uuid4().hex)
    try:
        wait = client.eval(_ACQUIRE, len(limits), *[limit.key for limit in limits], *args)
    except redis.RedisError as exc:
        raise RateLimitUnavailable(str(exc)) from exc
    return float(wait)


def acquire_each(shared: Limit, items: list[Limit]) -> list[float]:
    """One slot per item, in order, each under `shared` and its own limit, in one round trip: the
    wait of every item (0 when its slot was taken). Items all share one count and window."""
    if not items:
        return []
    client = get_redis()
    if client is None:
        return _local.acquire_each(shared, items)
    args: list[str | float | int] = [
        shared.count,
        shared.window,
        items[0].count,
        items[0].window,
        uuid.uuid4().hex,
    ]
    try:
        waits = client.eval(_ACQUIRE_EACH, len(items) + 1, shared.key, *[item.key for item in items], *args)
    except redis.RedisError as exc:
        raise RateLimitUnavailable(str(exc)) from exc
    return [float(wait) for wait in waits]


def available(limit: Limit, want: int = 1) -> tuple[int, float]:
    """How many slots `limit` has free now, and (when fewer than `want`) the seconds until `want`
    will be. A hint for sizing a batch; only `acquire`/`acquire_each` take slots."""
    want = max(1, min(want, limit.count))
    client = get_redis()
    if client is None:
        return _local.available(limit, want)
    try:
        free, wait = client.eval(_AVAILABLE, 1, limit.key, limit.count, limit.window, want)
    except redis.RedisError as exc:
        raise RateLimitUnavailable(str(exc)) from exc
    return int(free), float(wait)


def sent(item: Limit) -> None:
    """Count a one-slot limit (a Telegram chat's) from now, when its send was done, rather than from
    when its slot was taken.

    A batch takes its slots at once and then sends over several connections, so a send can leave a
    good part of a second after its slot was taken, while the provider counts from when the message
    arrived. Seen as 429s: a backlog to one chat, released at once after a Redis failover, reached
    Telegram less than a second apart. (The bot's window keeps counting from the slots: moving its
    entries to the sends cost a fifth of Telegram's throughput, and its 5% margin has held.)"""
    client = get_redis()
    if client is None:
        _local.sent(item)
        return
    try:
        client.eval(_SENT, 1, item.key, item.window)
    except redis.RedisError as exc:
        raise RateLimitUnavailable(str(exc)) from exc
