"""The worker's consumer, without the bootsteps this service does not use.

Gossip (worker-to-worker events), Mingle (state sync at start-up) and event heartbeats are for
Celery's own monitoring; the service keeps its worker heartbeats in Redis (core.celery_signals) and
needs none of them. They are also what stopped workers on a Redis outage: when the broker connection
drops, the consumer restarts its steps, Gossip's close deletes its auto-delete queue through a
channel whose connection is already gone, and kombu's Redis transport fails with "'NoneType' object
has no attribute 'hostname'" (kombu issue #582), which Celery treats as unrecoverable. Without those
steps the consumer simply reconnects. The same as `--without-gossip --without-mingle
--without-heartbeat`, but for every way a worker is started (`celery -A config worker` included).

It also reconnects sooner after losing the broker: kombu waits 2, 4, 6, ... up to 30 s between tries,
so a worker that lost its Redis master during a Sentinel failover (2-3 s) came back after 6 s; here
it tries every 0.5 s, then 1, 1.5, ... up to RECONNECT_INTERVAL_MAX seconds during a long outage.
"""

import functools
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Connection

UNUSED_STEPS = {"without_gossip": True, "without_mingle": True, "without_heartbeat": True}
RECONNECT_INTERVAL_MAX = 5.0


class Consumer(CeleryConsumer):
    def __init__(self, *args: Any, worker_options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, worker_options={**(worker_options or {}), **UNUSED_STEPS}, **kwargs)

    def ensure_connected(self, conn: Connection) -> Connection:
        conn.ensure_connection = functools.partial(  # type: ignore[method-assign]
            conn.ensure_connection, interval_start=0.5, interval_step=0.5, interval_max=RECONNECT_INTERVAL_MAX
        )
        return super().ensure_connected(conn)
