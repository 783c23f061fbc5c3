"""A claim's lease, kept alive while its drain works.

A claimed row is `sending` until `lease_until`. While the drain that claimed it lives, a thread of the
drain's renews the lease of the rows it still holds every third of the lease, however slow the provider
call it is waiting for; a drain killed with SIGKILL renews nothing, so its rows come back to the outbox
one lease after its last renewal (core.outbox.claim.rows_expired), not after a fixed long timeout.
"""

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from types import TracebackType

from django.db import close_old_connections, connections, models
from django.utils import timezone

logger = logging.getLogger(__name__)


def lease_until(lease: float) -> datetime:
    """When a lease of `lease` seconds taken now runs out."""
    return timezone.now() + timedelta(seconds=lease)


class LeaseKeeper:
    """Renews `lease_until` of the held rows of `model` that are still `sending`, every lease/3 s,
    from its own thread (and its own database connection), from `__enter__` to `__exit__`."""

    def __init__(self, model: type[models.Model], *, lease: float, sending: str) -> None:
        self.model, self.lease, self.sending = model, lease, sending
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0

    def hold(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.update(ids)

    def release(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.difference_update(ids)

    def __enter__(self) -> "LeaseKeeper":
        self._thread = threading.Thread(target=self._run, name="outbox-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.lease)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.lease / 3):
                self.renew()
        finally:
            close_old_connections()
            connections.close_all()  # this thread's own connections

    def renew(self) -> int:
        with self._lock:
            ids = sorted(self._held)
        if not ids:
            return 0
        try:
            renewed = self.model._default_manager.filter(pk__in=ids, status=self.sending).update(
                lease_until=lease_until(self.lease)
            )
        except Exception:  # a database hiccup: the next renewal comes in lease/3 s
            logger.warning("Could not renew the lease of %d %s rows", len(ids), self.model.__name__)
            return 0
        self.renewals += 1
        return renewed
