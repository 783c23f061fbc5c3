"""One Redis client per process for shared runtime state (rate limits, circuit breakers, heartbeats)."""

import os

import redis
from django.conf import settings

from core.redis_config import client

_client: tuple[tuple[object, ...], redis.Redis] | None = None


def get_redis() -> redis.Redis | None:
    """The shared client, or None when no REDIS_URL is configured (the embedded mode). With
    REDIS_SENTINELS, a client of the current master (core/redis_config.py)."""
    global _client
    url = str(settings.REDIS_URL or "")
    if not url:
        return None
    sentinels, master = settings.REDIS_SENTINELS, settings.REDIS_SENTINEL_MASTER
    identity = (os.getpid(), url, tuple(sentinels), master)
    if _client is None or _client[0] != identity:
        # Short timeouts (redis_config.TIMEOUTS): a Redis outage costs milliseconds per call.
        _client = (identity, client(url, sentinels=sentinels, master=master, health_check_interval=30))
    return _client[1]


def first_claim(key: str, ttl: int) -> bool:
    """True for the first caller to set `key` within `ttl` seconds (SET NX EX). Without Redis, or when
    Redis fails, True: callers use it to avoid repeats (a second wake, a second alert), and a repeat
    is better than a missed one."""
    client = get_redis()
    if client is None:
        return True
    try:
        return bool(client.set(key, 1, nx=True, ex=max(1, ttl)))
    except redis.RedisError:
        return True
