"""Waking the webhook drain, deduplicated as the delivery drains are (core.wake): a burst of events
is one task, and a message committed after a drain started wakes another."""

from core.wake import drain_started as _started
from core.wake import drain_wake

DRAIN_TASK = "apps.webhooks.tasks.webhooks_drain"
FLAG = "outbox:woken:webhooks"


def webhooks_wake(countdown: float = 0.0) -> None:
    """Make sure a webhook drain runs now (or in `countdown` seconds); never raises."""
    drain_wake(task=DRAIN_TASK, queue="default", flag=FLAG, countdown=countdown)


def drain_started() -> None:
    _started(FLAG)
