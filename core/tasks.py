"""Options of the Celery tasks of every app, in one place: tasks themselves only call a service."""

from typing import Any

# An outbox drain: acknowledged once it ran (a drain lost with its worker is delivered again), no result
# kept, and a hard stop long after its time budget.
DRAIN_OPTIONS: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "soft_time_limit": 60,
    "time_limit": 90,
}
# A periodic job of the scheduler (sweeps, heartbeats): the next run repeats it, so no late ack.
PERIODIC_OPTIONS: dict[str, Any] = {"ignore_result": True, "soft_time_limit": 60, "time_limit": 90}
# A one-off job handed over by a request (a broadcast): done at least once.
JOB_OPTIONS: dict[str, Any] = {"ignore_result": True, "acks_late": True, "reject_on_worker_lost": True}
