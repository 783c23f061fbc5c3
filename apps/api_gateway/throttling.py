"""Per-API-key request rate, a fixed-window counter in the cache (Redis in production).

DRF's SimpleRateThrottle keeps a list of every request time per key and rewrites it on each
request; a counter costs one INCR (with its EXPIRE, one round trip). When Redis is unreachable
throttling fails open: the API keeps serving and logs a warning, because refusing all traffic would
be worse than not limiting it.
"""

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core.utils.redis import get_redis

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'100/min' -> (100, 60); None or 'none' disables throttling."""
    if not rate or rate.lower() == "none":
        return None
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def _count(key: str, *, timeout: int) -> int:
    """Add one to the window's counter: one round trip on Redis (INCR and EXPIRE in a pipeline),
    the cache API's add and incr elsewhere (the embedded mode's local memory)."""
    client = get_redis()
    if client is None:
        cache.add(key, 0, timeout=timeout)
        return int(cache.incr(key))
    pipe = client.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, timeout, nx=True)
    return int(pipe.execute()[0])


class FixedWindowThrottle(BaseThrottle):
    """Requests per identity and window: `rate()` names the limit ("100/min"; None or "none" turns it
    off), `ident()` whom a request counts for (None: not counted)."""

    scope = ""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def rate(self) -> str | None:
        raise NotImplementedError

    def ident(self, request: Request) -> object | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        parsed = parse_rate(self.rate())
        ident = self.ident(request)
        if parsed is None or ident is None:
            return True
        limit, period = parsed
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{ident}:{window}"
        try:
            count = _count(key, timeout=period + 1)
        except Exception:  # the cache backend's own errors (redis, connection) vary by backend
            logger.warning("API throttling skipped: cache unavailable", exc_info=True)
            return True
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * period - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


class ApiKeyRateThrottle(FixedWindowThrottle):
    """API_THROTTLE_RATE per API key."""

    scope = "apikey"

    def rate(self) -> str | None:
        return str(settings.API_THROTTLE_RATE)

    def ident(self, request: Request) -> object | None:
        return None if request.auth is None else request.auth.pk
