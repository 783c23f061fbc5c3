"""Celery tasks: thin wrappers that take ids or names and call a service; their options are in
core.tasks. Nothing imports this module back: apps.notifications.dispatch sends these tasks by name."""

from typing import Any

from celery import shared_task

from apps.notifications import dispatch
from apps.notifications.broadcast import broadcast_from_request
from apps.notifications.channels import TransientError
from apps.notifications.ops_alerts import ops_alert_send
from apps.notifications.outbox.planner import order_events_plan as plan
from apps.notifications.outbox.sweep import outbox_sweep as sweep
from apps.notifications.outbox.turns import in_turns, outbox_drain_in_turns
from apps.notifications.tracking import provider_events_drain
from core.tasks import DRAIN_OPTIONS, JOB_OPTIONS, PERIODIC_OPTIONS


@shared_task(**DRAIN_OPTIONS)
def outbox_drain(channel: str, beside: bool = False) -> dict[str, Any]:
    """Drain the channel's due deliveries (see outbox.turns); `beside`: a second drain beside a
    running one, woken by a full batch."""
    return outbox_drain_in_turns(channel, beside=beside)


@shared_task(**DRAIN_OPTIONS)
def order_events_plan() -> dict[str, Any]:
    """Plan the order events outbox into notifications (outbox.planner), in the planner's one turn."""
    return in_turns(
        take=dispatch.events_turn_take,
        started=dispatch.events_drain_started,
        wake=lambda countdown: dispatch.events_wake(countdown=countdown),
        drain=lambda renew: plan(each_batch=renew),
    )


@shared_task(**DRAIN_OPTIONS)
def provider_events_apply() -> dict[str, Any]:
    """Apply the email providers' stored tracking events (tracking), in the applier's one turn."""
    return in_turns(
        take=dispatch.provider_events_turn_take,
        started=dispatch.provider_events_started,
        wake=lambda countdown: dispatch.provider_events_wake(countdown=countdown),
        drain=lambda renew: provider_events_drain(each_batch=renew),
    )


@shared_task(**PERIODIC_OPTIONS)
def outbox_sweep() -> dict[str, int]:
    return sweep()


@shared_task(**JOB_OPTIONS)
def broadcast(data: dict[str, Any]) -> dict[str, Any]:
    """A validated broadcast request (see BroadcastInputSerializer), written in chunks."""
    return broadcast_from_request(data)


@shared_task(
    **PERIODIC_OPTIONS,
    autoretry_for=(TransientError,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=6,
)
def ops_alert(channel: str, subject: str, body: str) -> None:
    """An operator alert (see ops_alerts): retried on transient errors, not kept in the outbox."""
    ops_alert_send(channel=channel, subject=subject, body=body)
