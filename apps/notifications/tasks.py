"""Celery tasks: thin wrappers that take ids and call a service."""

from celery import shared_task

from apps.notifications.services import delivery_send
from apps.notifications.services import outbox_sweep as sweep


@shared_task(
    acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=60, time_limit=90
)
def deliver(delivery_id: int) -> None:
    delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def outbox_sweep() -> dict[str, int]:
    return sweep()
