"""Each worker host's own Prometheus endpoint (issue 15, item 5).

A worker's pool processes count deliveries, attempts and latencies in prometheus-client's
multiprocess mode, in PROMETHEUS_MULTIPROC_DIR (bin/start gives a worker started without one its own
directory, emptied at start). The worker's main process serves the sum of those files over HTTP on
WORKER_METRICS_ADDR:WORKER_METRICS_PORT once the pool is up, so Prometheus scrapes every worker host
directly, wherever it runs, instead of relying on a directory shared with a web process. A pool
process that exits is marked dead, so its live gauges drop out. Port 0 switches the endpoint off; a
port already taken (a second worker on one host) is logged and the worker runs on without it.
"""

import logging
import os
from typing import Any

from celery.signals import worker_process_shutdown, worker_ready
from django.conf import settings

logger = logging.getLogger(__name__)


@worker_ready.connect
def _serve(**_: Any) -> None:
    port = int(getattr(settings, "WORKER_METRICS_PORT", 0) or 0)
    if not port:
        return
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        logger.warning("WORKER_METRICS_PORT is set but PROMETHEUS_MULTIPROC_DIR is not; no worker metrics")
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=settings.WORKER_METRICS_ADDR, registry=registry)
    except OSError as exc:
        logger.warning("worker metrics not served on port %s: %s", port, exc)
        return
    logger.info("worker metrics on http://%s:%s/metrics", settings.WORKER_METRICS_ADDR, port)


@worker_process_shutdown.connect
def _forget_process(**_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
