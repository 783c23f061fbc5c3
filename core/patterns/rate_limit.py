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
