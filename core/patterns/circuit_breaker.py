"""A circuit breaker per channel whose state lives in Redis, shared by every worker.

closed: calls go through; N consecutive transient failures open it.
open: no calls until `reset_timeout` has passed since it opened.
half-open: after the cool-down exactly one caller (a SET NX probe token) may try; success closes the
circuit, failure opens it again for another cool-down.

Without Redis (the embedded mode) the state is kept per process. If Redis is configured but does not
answer, the breaker lets calls through: the provider's own errors still back off each delivery.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from core.utils.redis import get_redis

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    state: str
    retry_in: float = 0.0


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int, reset_timeout: float) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._prefix = f"circuit:{name}"
        self._local: dict[str, Any] = {"failures": 0, "opened_at": None, "probe": False}
        self._lock = threading.Lock()

    # --- the store: Redis when configured, else this process ---
    def _get(self) -> tuple[int, float | None]:
        client = get_redis()
        if client is None:
            return int(self._local["failures"]), self._local["opened_at"]
        failures, opened_at = client.mget(f"{self._prefix}:failures", f"{self._prefix}:opened_at")
        return int(failures or 0), (float(opened_at) if opened_at else None)

    def state(self) -> str:
        try:
            _, opened_at = self._get()
        except redis.RedisError:
            return CLOSED
        if opened_at is None:
            return CLOSED
        return OPEN if time.time() - opened_at < self.reset_timeout else HALF_OPEN

    def before_call(self) -> Decision:
        """May the caller contact the provider now?"""
        try:
            _, opened_at = self._get()
            if opened_at is None:
                return Decision(True, CLOSED)
            remaining = opened_at + self.reset_timeout - time.time()
            if remaining > 0:
                return Decision(False, OPEN, remaining)
            if self._take_probe():
                logger.warning("circuit %s half-open: letting one probe through", self.name)
                return Decision(True, HALF_OPEN)
            return Decision(False, HALF_OPEN, min(self.reset_timeout, 5.0))
        except redis.RedisError:
            logger.warning("circuit %s state unavailable (Redis down); allowing the call", self.name)
            return Decision(True, CLOSED)

    def _take_probe(self) -> bool:
        client = get_redis()
        if client is None:
            with self._lock:
                if self._local["probe"]:
                    return False
                self._local["probe"] = True
                return True
        # The probe token expires, so a prober that dies does not block the circuit forever.
        return bool(client.set(f"{self._prefix}:probe", "1", nx=True, ex=max(int(self.reset_timeout), 1)))

    def release_probe(self) -> None:
        """Give back a probe token that was taken but not used."""
        try:
            client = get_redis()
            if client is None:
                self._local["probe"] = False
            else:
                client.delete(f"{self._prefix}:probe")
        except redis.RedisError:
            logger.warning("circuit %s: could not release the probe (Redis down)", self.name)

    def record_success(self) -> None:
        try:
            client = get_redis()
            if client is None:
                with self._lock:
                    was_open = self._local["opened_at"] is not None
                    self._local.update(failures=0, opened_at=None, probe=False)
            else:
                # One round trip: this runs after every successful send.
                pipe = client.pipeline(transaction=False)
                pipe.exists(f"{self._prefix}:opened_at")
                pipe.delete(f"{self._prefix}:failures", f"{self._prefix}:opened_at", f"{self._prefix}:probe")
                was_open = bool(pipe.execute()[0])
            if was_open:
                logger.warning("circuit %s closed: the provider answered again", self.name)
        except redis.RedisError:
            logger.warning("circuit %s: could not record success (Redis down)", self.name)

    def record_failure(self) -> None:
        """A transient failure: count it, and open (or re-open after a failed probe) at the threshold."""
        try:
            client = get_redis()
            now = time.time()
            if client is None:
                with self._lock:
                    self._local["failures"] += 1
                    failures, reopen = self._local["failures"], self._local["probe"]
                    if failures >= self.failure_threshold or reopen:
                        self._local.update(opened_at=now, probe=False)
                        self._log_open(failures)
                return
            failures = int(client.incr(f"{self._prefix}:failures"))
            probing = bool(client.exists(f"{self._prefix}:probe"))
            if failures >= self.failure_threshold or probing:
                client.set(f"{self._prefix}:opened_at", repr(now))
                client.delete(f"{self._prefix}:probe")
                self._log_open(failures)
        except redis.RedisError:
            logger.warning("circuit %s: could not record failure (Redis down)", self.name)

    def _log_open(self, failures: int) -> None:
        logger.warning(
            "circuit %s open after %d consecutive transient failures; next probe in %.0f s",
            self.name,
            failures,
            self.reset_timeout,
        )

    def reset(self) -> None:
        client = get_redis()
        self._local.update(failures=0, opened_at=None, probe=False)
        if client is not None:
            client.delete(f"{self._prefix}:failures", f"{self._prefix}:opened_at", f"{self._prefix}:probe")
