"""The cache layer over Django's cache framework (Redis in production): reads that fail open to the
database, deletes after commit, and hit/miss/error counters for /metrics/.

A cached value is never the only copy: callers read the database on a miss, and on an error (Redis
down) as well, so an outage makes requests slower, never wrong. `CACHE_ENABLED=false` turns it off.
"""

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from prometheus_client import Counter

logger = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_REQUESTS = Counter(
    "notifications_cache_requests_total", "Cache look-ups by cache and result", ["cache", "result"]
)
_MISSING = object()


def cached(name: str, key: str, load: Callable[[], T | None], *, timeout: float) -> T | None:
    """The value under `key`, else `load()` (stored when not None). Redis errors count as `error`
    and fall back to `load()`."""
    if not settings.CACHE_ENABLED:
        return load()
    try:
        value = cache.get(key, _MISSING)
    except Exception:
        CACHE_REQUESTS.labels(name, "error").inc()
        logger.debug("cache %s unavailable; reading the database", name, exc_info=True)
        return load()
    if value is not _MISSING:
        CACHE_REQUESTS.labels(name, "hit").inc()
        return value
    CACHE_REQUESTS.labels(name, "miss").inc()
    value = load()
    if value is not None:
        try:
            cache.set(key, value, timeout)
        except Exception:
            CACHE_REQUESTS.labels(name, "error").inc()
    return value


def forget_on_commit(*keys: str) -> None:
    """Delete keys once the writing transaction commits (at once outside one): the next reader loads
    the new state. A failed delete is logged; the entry then lives until its timeout."""

    def forget() -> None:
        try:
            cache.delete_many(list(keys))
        except Exception:
            logger.warning("cache: could not delete %s (Redis down?); it expires by itself", keys)

    transaction.on_commit(forget)


def forget_all(**_: Any) -> None:
    """For tests and operators: drop every entry (Django's cache.clear)."""
    cache.clear()
