"""A drain task's run: drain the channel while holding one of its turns (core.wake), again while wakes
came in meanwhile, and hand over to the next drain when out of time."""

from collections.abc import Callable
from typing import Any

from apps.notifications import dispatch
from apps.notifications.outbox.pump import outbox_drain
from core.outbox.drain import DrainResult
from core.wake import Turn


def outbox_drain_in_turns(channel: str, *, beside: bool = False) -> dict[str, Any]:
    """Send the channel's due deliveries in batches until none is left or the drain's time is up,
    in a turn of the channel's: when another drain holds it, that one drains for us. `beside`: woken
    by a drain with a full batch, to run beside it (a second turn)."""
    totals = {"sent": 0, "failed": 0, "waiting": 0, "batches": 0, "turns": 0}
    turn, held_for = dispatch.outbox_turn_take(channel, beside=beside)
    # Only now is this task no longer the queued wake: a commit's wake before the take found the flag
    # set and sent nothing, and the take saw that commit; one after it finds the turn held. (Cleared
    # before the take, a wake in between would queue a second drain, which would take a second turn.)
    dispatch.outbox_drain_started(channel)
    while True:
        if turn is None:
            # The holder will see our request; should it have died, its turn expires by then.
            dispatch.outbox_wake([channel], countdown=held_for)
            return totals
        try:
            result = outbox_drain(channel=channel, each_batch=turn.renew)
        finally:
            requested = turn.give_back()
        totals["turns"] += 1
        for name in ("sent", "failed", "waiting", "batches"):
            totals[name] += getattr(result, name)
        if result.out_of_time:
            dispatch.outbox_wake([channel])  # the turn is given back: this wakes the next drain
            return totals
        if not requested:
            return totals
        turn, held_for = dispatch.outbox_turn_take(channel, beside=beside)


def in_turns(
    *,
    take: Callable[[], tuple[Turn | None, float]],
    started: Callable[[], None],
    wake: Callable[[float], None],
    drain: Callable[[Callable[[], None]], DrainResult],
) -> dict[str, Any]:
    """The same loop for any outbox whose drains take turns (the order events planner)."""
    totals = {"sent": 0, "failed": 0, "waiting": 0, "batches": 0, "turns": 0}
    turn, held_for = take()
    started()
    while True:
        if turn is None:
            wake(held_for)
            return totals
        try:
            result = drain(turn.renew)
        finally:
            requested = turn.give_back()
        totals["turns"] += 1
        for name in ("sent", "failed", "waiting", "batches"):
            totals[name] += getattr(result, name)
        if result.out_of_time:
            wake(0.0)
            return totals
        if not requested:
            return totals
        turn, held_for = take()
