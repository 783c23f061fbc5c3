"""Celery tasks: thin wrappers that take ids or names and call a service. Nothing imports this module
back: apps.notifications.dispatch sends these tasks by name."""

from typing import Any

from celery import shared_task

from apps.notifications import dispatch
from apps.notifications.channels import TransientError
from apps.notifications.models import Delivery
from apps.notifications.ops_alerts import ops_alert_send
from apps.notifications.outbox.pump import outbox_drain as drain
from apps.notifications.outbox.sweep import outbox_sweep as sweep
from apps.notifications.planning import MessageSource


@shared_task(
    acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=60, time_limit=90
)
def outbox_drain(channel: str, beside: bool = False) -> dict[str, Any]:
    """Send the channel's due deliveries in batches until none is left or the drain's time is up,
    in a turn of the channel's (core.wake): when another drain holds it, that one drains for us.
    `beside`: woken by a drain with a full batch, to run beside it (a second turn)."""
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
            result = drain(channel=channel, each_batch=turn.renew)
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


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver(delivery_id: int) -> None:
    """A task of the former one-task-per-delivery design, still in a broker after an upgrade: wake
    the delivery's channel instead."""
    channel = Delivery.objects.filter(pk=delivery_id).values_list("channel", flat=True).first()
    if channel:
        dispatch.outbox_wake([channel])


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def deliver_many(delivery_ids: list[int]) -> None:
    """Like `deliver`, for the former batch task."""
    channels = set(Delivery.objects.filter(pk__in=delivery_ids).values_list("channel", flat=True))
    dispatch.outbox_wake(channels)


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
