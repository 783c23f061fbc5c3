"""The cache layer over Django's cache framework (Redis in production): reads that fail open to the
database, invalidation after commit, versions for what every process memoises, and hit/miss/error
counters for /metrics/.

A cached value is never the only copy: callers read the database on a miss, and on an error (Redis
down) as well, so an outage makes requests slower, never wrong. `CACHE_ENABLED=false` turns it off.

Invalidation writes a short-lived tombstone instead of deleting (when the write happens and again
when it commits), and readers store what they loaded only where no entry exists (`add`): a reader
that loaded the old row just before a change committed cannot put it back over the tombstone, so a
change (a revoked key, a new chat id) is seen at once by every process rather than after
CACHE_TIMEOUT. While the tombstone lives, readers go to the database.
"""

import contextvars
import logging
import uuid
from collections.abc import Callable, Iterable
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
# What an invalidated key holds for TOMBSTONE_SECONDS (longer than any database read takes).
TOMBSTONE = "\x00forgotten"
TOMBSTONE_SECONDS = 10


# What this request (or task) has read from Redis already: a second read of the same key in one
# request (the order view and its event handler both need the customer) costs no round trip. None
# outside a scope (shell, commands); a context variable, so threads never share one.
_scope: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("cache_scope", default=None)


def scope_begin(**_: Any) -> None:
    """Start a request's (or task's) memo of cache reads (connected to request_started, task_prerun)."""
    _scope.set({})


def scope_end(**_: Any) -> None:
    _scope.set(None)


def _remember(key: str, value: Any) -> None:
    memo = _scope.get()
    if memo is not None:
        memo[key] = value


def cached(name: str, key: str, load: Callable[[], T | None], *, timeout: float) -> T | None:
    """The value under `key`, else `load()` (stored when not None and the key is free). Redis errors
    count as `error` and fall back to `load()`."""
    if not settings.CACHE_ENABLED:
        return load()
    memo = _scope.get()
    if memo is not None and key in memo:
        CACHE_REQUESTS.labels(name, "hit").inc()
        return memo[key]
    try:
        value = cache.get(key, _MISSING)
    except Exception:
        CACHE_REQUESTS.labels(name, "error").inc()
        logger.debug("cache %s unavailable; reading the database", name, exc_info=True)
        return load()
    if value is not _MISSING and value != TOMBSTONE:
        CACHE_REQUESTS.labels(name, "hit").inc()
        _remember(key, value)
        return value
    CACHE_REQUESTS.labels(name, "miss").inc()
    value = load()
    if value is not None and value is not _MISSING:
        try:
            cache.add(key, value, timeout)
        except Exception:
            CACHE_REQUESTS.labels(name, "error").inc()
    return value


def forget_on_commit(*keys: str) -> None:
    """Invalidate keys now and again once the writing transaction commits (at once outside one).

    Now: until the commit, readers (this transaction's own included) go to the database and store
    nothing, so no uncommitted row reaches the cache. After the commit: a reader that loaded the old
    row meanwhile cannot store it. A failed write is logged; the entry then lives until its timeout.
    """

    def forget() -> None:
        try:
            cache.set_many(dict.fromkeys(keys, TOMBSTONE), TOMBSTONE_SECONDS)
        except Exception:
            logger.warning("cache: could not invalidate %s (Redis down?); it expires by itself", keys)

    if settings.CACHE_ENABLED:
        _forget_in_scope(keys)
        forget()
        transaction.on_commit(forget)


def _forget_in_scope(keys: Iterable[str]) -> None:
    memo = _scope.get()
    if memo is not None:
        for key in keys:
            memo.pop(key, None)


def version_get(name: str, key: str) -> str | None:
    """The current version under `key` (created when missing), or None when the cache is off or
    unreachable: the caller must then read the database."""
    if not settings.CACHE_ENABLED:
        return None
    memo = _scope.get()
    if memo is not None and key in memo:
        return str(memo[key])
    try:
        version = cache.get(key)
        if version is None:
            cache.add(key, uuid.uuid4().hex, None)
            version = cache.get(key)
    except Exception:
        CACHE_REQUESTS.labels(name, "error").inc()
        logger.debug("cache %s unavailable; reading the database", name, exc_info=True)
        return None
    if version is None:
        return None
    _remember(key, version)
    return str(version)


def version_bump_on_commit(key: str) -> None:
    """A new version once committed: every process's memo of the old one is stale from then on."""

    _forget_in_scope([key])

    def bump() -> None:
        try:
            cache.set(key, uuid.uuid4().hex, None)
        except Exception:
            logger.warning("cache: could not bump %s (Redis down?); memos are refreshed on errors", key)

    transaction.on_commit(bump)


def forget_all(**_: Any) -> None:
    """For tests and operators: drop every entry (Django's cache.clear)."""
    cache.clear()
