"""The drain loop every outbox shares: claim a batch, send it, until nothing is due or the drain's
time is up; then leave a timer wake for whatever comes due next (a retry, a rate-limit slot, a lease
running out), so no process sleeps while messages wait.

A subclass says which rows (`claim`), how a batch is sent and recorded (`send`), when the next one is
due (`next_due_in`) and how a drain is woken (`wake`); optionally how many rows may be claimed now
(`capacity`: a provider's rate limit) and what to do with rows whose lease ran out (`reclaim`).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db import models
from django.db.models import Min, Q
from django.utils import timezone

from core.outbox.lease import LeaseKeeper

# Seconds a batch may run past the drain's budget before its rest is given back.
OVERRUN = 30.0


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    batches: int = 0
    next_due_in: float | None = None
    out_of_time: bool = False

    def note_due(self, wait: float | None) -> None:
        """Something is due again in `wait` seconds: the drain's timer wake must come by then."""
        if wait is None:
            return
        if self.next_due_in is None or wait < self.next_due_in:
            self.next_due_in = wait

    def note_wait(self, wait: float, count: int = 1) -> None:
        self.waiting += count
        self.note_due(wait)


# A timer wake is at least one tick of core.wake away.
MIN_WAIT = 0.05


@dataclass(frozen=True)
class Due:
    """What an outbox holds for its drains, read in one query after a batch (see `due_read`)."""

    now: bool = False  # a waiting row is due now (held back from the last claim, or committed since)
    expired: bool = False  # a claim's lease ran out: its drain died
    next_in: float | None = None  # seconds until the next row due after the last claim, or a lease ends


def due_read(
    rows: "models.QuerySet[Any]",
    *,
    waiting: list[str],
    sending: str,
    after: datetime,
    horizon: float,
) -> Due:
    """What of `rows` needs a drain: rows due now, claims whose lease ran out, and the seconds until
    the next row due after `after` (the last claim) or the next lease to run out; `next_in` is None
    when nothing comes due within `horizon` seconds (later ones are the periodic sweep's)."""
    now = timezone.now()
    until = after + timedelta(seconds=horizon)
    found = rows.filter(
        Q(status__in=waiting, next_attempt_at__lte=until) | Q(status=sending, lease_until__lte=until)
    ).aggregate(
        due_now=Min("next_attempt_at", filter=Q(status__in=waiting, next_attempt_at__lte=now)),
        due_next=Min("next_attempt_at", filter=Q(status__in=waiting, next_attempt_at__gt=after)),
        lease=Min("lease_until", filter=Q(status=sending)),
    )
    moments = [m for m in (found["due_next"], found["lease"]) if m is not None]
    return Due(
        now=found["due_now"] is not None,
        expired=found["lease"] is not None and found["lease"] < now,
        next_in=max((min(moments) - now).total_seconds(), MIN_WAIT) if moments else None,
    )


class Drain:
    """One drain of one outbox (see the module's docstring)."""

    model: ClassVar[type[models.Model]]
    sending: ClassVar[str] = "sending"

    def __init__(self, *, batch_size: int, lease: float) -> None:
        self.batch_size = batch_size
        self.lease = lease

    # --- what a subclass provides ---
    def claim(self, limit: int) -> Sequence[Any]:
        raise NotImplementedError

    def send(self, batch: Sequence[Any], result: DrainResult, *, deadline: float) -> None:
        raise NotImplementedError

    def due(self, *, after: datetime) -> Due:
        """What the outbox holds (see `due_read`), read after a batch shorter than its claim's limit
        (or none): whether to claim again, reclaim dead claims, or leave a timer wake."""
        raise NotImplementedError

    def wake(self, *, countdown: float) -> None:
        raise NotImplementedError

    def reclaim(self) -> int:
        """Give back rows whose lease ran out (their drain died); how many."""
        return 0

    def capacity(self, result: DrainResult) -> int:
        """How many rows to claim now; 0 stops the drain (it must have noted when to come back)."""
        return self.batch_size

    def claimed(self, batch: Sequence[Any], limit: int, result: DrainResult) -> None:
        """A batch was claimed (e.g. wake another drain beside this one when it came back full)."""

    # --- the loop ---
    def run(self, *, budget: float, each_batch: Callable[[], None] | None = None) -> DrainResult:
        """Drain until nothing is due or `budget` seconds have passed (then `out_of_time` is set and
        the caller hands over to the next drain). `each_batch` runs before every claim."""
        deadline = time.monotonic() + budget
        result = DrainResult()
        with LeaseKeeper(self.model, lease=self.lease, sending=self.sending) as keeper:
            while True:
                if time.monotonic() >= deadline:
                    result.out_of_time = True
                    break
                if each_batch is not None:
                    each_batch()
                limit = self.capacity(result)
                if limit <= 0:
                    break
                checked = timezone.now()
                batch = self.claim(limit)
                if batch:
                    result.batches += 1
                    keeper.hold(row.pk for row in batch)
                    self.claimed(batch, limit, result)
                    self.send(batch, result, deadline=deadline + OVERRUN)
                    keeper.release(row.pk for row in batch)
                    if len(batch) >= limit:
                        continue  # a full batch: more may be due
                # One query instead of another claim that would most likely find nothing.
                due = self.due(after=checked)
                if due.expired and self.reclaim():
                    continue  # claims of a dead drain are due again now
                if batch and due.now:
                    continue  # held back by the last batch's own messages, or committed since
                # Whatever waits now was due later than `checked`: the timer wake is for the earliest
                # of those, not for a wait noted earlier (which another batch may have turned into a
                # longer one, as a circuit that opened meanwhile does).
                result.note_due(due.next_in)
                break
        if not result.out_of_time and result.next_due_in is not None:
            self.wake(countdown=result.next_due_in)
        return result
