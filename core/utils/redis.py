"""One Redis client per process for shared runtime state (rate limits, circuit breakers, heartbeats)."""

import os

import redis
from django.conf import settings

_client: tuple[int, str, redis.Redis] | None = None


def get_redis() -> redis.Redis | None:
    """The shared client, or None when no REDIS_URL is configured (the embedded mode)."""
    global _client
    url = str(settings.REDIS_URL or "")
    if not url:
        return None
    if _client is None or _client[0] != os.getpid() or _client[1] != url:
        # Short timeouts: a Redis outage must cost milliseconds per call, not hang a worker.
        client = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        _client = (os.getpid(), url, client)
    return _client[2]


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
