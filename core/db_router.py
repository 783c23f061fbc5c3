"""Read replicas (DATABASE_REPLICA_URL): list and history reads go to the replica, everything else to
the primary.

Reads are sent to the replica only inside a view method marked `@reads_from_replica` (the list and
history endpoints), never by default: a request that writes, an API key lookup, the admin and every
worker task (claims included) read the primary, so nothing that decides what to send or acts on what
it read can see a stale row. Within a marked view, the first write sends every later read of the
request to the primary as well.

The replica is used while it answers and lags by at most DATABASE_REPLICA_MAX_LAG seconds, checked
at most every DATABASE_REPLICA_CHECK_INTERVAL seconds per process. A replica that is down, lagging
or fails in the middle of a read sends the read (again) to the primary: a list may be older by at
most the lag bound, never an error.
"""

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DatabaseError, connections

DEFAULT, REPLICA = "default", "replica"
logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Seconds the replica is behind: 0 when it has replayed everything it received, else the age of the
# last transaction it replayed. NULL on a server that is not a standby (a replica URL aimed at the
# primary, as in development): no lag.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
"""


@dataclass
class _Request:
    """One marked view call: whether it may still read the replica, and whether it did."""

    replica_allowed: bool = True
    used_replica: bool = False


_current: ContextVar[_Request | None] = ContextVar("replica_request", default=None)


class _Health:
    """The replica's state as this process last saw it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.checked_at = float("-inf")
        self.usable: bool | None = None  # not checked yet
        self.lag: float | None = None

    def usable_now(self) -> bool:
        now = time.monotonic()
        if now - self.checked_at < settings.DATABASE_REPLICA_CHECK_INTERVAL:
            return bool(self.usable)
        with self.lock:
            if now - self.checked_at >= settings.DATABASE_REPLICA_CHECK_INTERVAL:
                self._check()
                self.checked_at = time.monotonic()
        return bool(self.usable)

    def _check(self) -> None:
        usable, self.lag = False, None
        try:
            with connections[REPLICA].cursor() as cursor:
                if connections[REPLICA].vendor == "postgresql":
                    cursor.execute(LAG_SQL)
                    self.lag = float(cursor.fetchone()[0])
                else:
                    self.lag = 0.0
            usable = self.lag <= settings.DATABASE_REPLICA_MAX_LAG
        except DatabaseError as exc:
            _close_replica()
            if self.usable:
                logger.warning("read replica unavailable, reading from the primary: %s", exc)
        if usable != self.usable and self.lag is not None:
            logger.log(
                logging.INFO if usable else logging.WARNING,
                "read replica %s (lag %.1f s, bound %.1f s)",
                "in use" if usable else "too far behind, reading from the primary",
                self.lag,
                settings.DATABASE_REPLICA_MAX_LAG,
            )
        self.usable = usable

    def mark_down(self) -> None:
        self.usable, self.checked_at = False, time.monotonic()


health = _Health()


def _close_replica() -> None:
    with contextlib.suppress(Exception):
        connections[REPLICA].close()


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


class ReplicaRouter:
    """Django database router: see the module docstring."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        request = _current.get()
        if request is None or not request.replica_allowed or not health.usable_now():
            return DEFAULT
        request.used_replica = True
        return REPLICA

    def db_for_write(self, model: Any, **hints: Any) -> str:
        request = _current.get()
        if request is not None:
            request.replica_allowed = False  # read your own writes
        return DEFAULT

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two servers

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT  # a replica follows the primary's schema


def reads_from_replica(view: Callable[P, R]) -> Callable[P, R]:
    """Let the reads of this view method go to the replica; if the replica fails during the view,
    run it again on the primary (the view only reads, so running it twice is harmless)."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not replica_configured():
            return view(*args, **kwargs)
        request = _Request()
        token = _current.set(request)
        try:
            return view(*args, **kwargs)
        except DatabaseError as exc:
            if not request.used_replica:
                raise
            logger.warning("read replica failed during a read, reading from the primary: %s", exc)
            health.mark_down()
            _close_replica()
            request.replica_allowed = False
            return view(*args, **kwargs)
        finally:
            _current.reset(token)

    return wrapper
