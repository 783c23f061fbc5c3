"""When to try again: exponential backoff with full jitter, or the next pause of a fixed schedule."""

import random
from collections.abc import Sequence


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """uniform(0, min(cap, base * 2^(attempt-1))): full jitter, so retries of many messages that
    failed together do not return together (AWS Architecture Blog, "Exponential Backoff And Jitter")."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


def schedule_delay(attempt: int, schedule: Sequence[float]) -> float | None:
    """The pause after try number `attempt` (from 1), or None when the schedule is spent."""
    if 1 <= attempt <= len(schedule):
        return float(schedule[attempt - 1])
    return None
