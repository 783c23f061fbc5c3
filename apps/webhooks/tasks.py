"""Celery tasks of the webhooks app, sent by name (apps.webhooks.dispatch)."""

from celery import shared_task

from apps.webhooks import dispatch
from apps.webhooks.outbox import webhooks_drain as drain
from core.tasks import DRAIN_OPTIONS


@shared_task(**DRAIN_OPTIONS)
def webhooks_drain() -> int:
    dispatch.drain_started()
    return drain()
