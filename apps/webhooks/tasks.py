"""Celery tasks of the webhooks app, sent by name (apps.webhooks.dispatch) and by beat (the sweep)."""

from celery import shared_task

from apps.webhooks import dispatch
from apps.webhooks.sender import webhooks_drain as drain


@shared_task(
    acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=60, time_limit=90
)
def webhooks_drain() -> int:
    dispatch.drain_started()
    return drain()
