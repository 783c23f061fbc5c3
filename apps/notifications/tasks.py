"""Celery tasks: thin wrappers that take ids and call a service."""

from typing import Any

from celery import shared_task

from apps.notifications.channels import TransientError
from apps.notifications.ops_alerts import ops_alert_send
from apps.notifications.services import MessageSource, deliveries_send, delivery_send
from apps.notifications.services import outbox_sweep as sweep


@shared_task(
    acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=60, time_limit=90
)
def deliver(delivery_id: int) -> None:
    delivery_send(delivery_id=delivery_id)


@shared_task(
    acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=600, time_limit=660
)
def deliver_many(delivery_ids: list[int]) -> None:
    """Several deliveries of one channel, one after the other (bulk work: broadcasts, the sweep).

    Each is claimed on its own, so a redelivered or overlapping batch never sends one twice.
    """
    deliveries_send(delivery_ids)


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def outbox_sweep() -> dict[str, int]:
    return sweep()


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def broadcast(data: dict[str, Any]) -> dict[str, Any]:
    """A validated broadcast request (see BroadcastInputSerializer), written in chunks."""
    from apps.notifications.broadcast import broadcast_send

    result = broadcast_send(
        source=MessageSource.from_request(data),
        context=data.get("context") or {},
        channels=data.get("channels"),
        strategy=data.get("strategy") or "all",
        priority=data.get("priority") or "normal",
        category=data.get("category") or "marketing",
        customer_ids=data.get("customers"),
    )
    return result.as_dict()


@shared_task(
    ignore_result=True,
    autoretry_for=(TransientError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
    soft_time_limit=60,
    time_limit=90,
)
def ops_alert(channel: str, subject: str, body: str) -> None:
    """An operator alert (see ops_alerts): retried on transient errors, not kept in the outbox."""
    ops_alert_send(channel=channel, subject=subject, body=body)
