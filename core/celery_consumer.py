"""The worker's consumer, without the bootsteps this service does not use.

Gossip (worker-to-worker events), Mingle (state sync at start-up) and event heartbeats are for
Celery's own monitoring; the service keeps its worker heartbeats in Redis (core.celery_signals) and
needs none of them. They are also what stopped workers on a Redis outage: when the broker connection
drops, the consumer restarts its steps, Gossip's close deletes its auto-delete queue through a
channel whose connection is already gone, and kombu's Redis transport fails with "'NoneType' object
has no attribute 'hostname'" (kombu issue #582), which Celery treats as unrecoverable. Without those
steps the consumer simply reconnects. The same as `--without-gossip --without-mingle
--without-heartbeat`, but for every way a worker is started (`celery -A config worker` included).
"""

from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

UNUSED_STEPS = {"without_gossip": True, "without_mingle": True, "without_heartbeat": True}


class Consumer(CeleryConsumer):
    def __init__(self, *args: Any, worker_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, worker_options={**(worker_options or {}), **UNUSED_STEPS}, **kwargs)
