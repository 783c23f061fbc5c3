"""Celery signal handlers: carry the request id into tasks, and keep a worker heartbeat in Redis."""

import logging
import os
import socket
import threading
import time
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready, worker_shutdown
from django.db import close_old_connections

from core.cache import scope_begin as cache_scope_begin
from core.cache import scope_end as cache_scope_end
from core.logging import request_id_var

logger = logging.getLogger(__name__)

# A sorted set of worker hostname -> last beat (unix time); /health/celery/ reads the fresh ones.
HEARTBEAT_KEY = "celery:heartbeats"
HEARTBEAT_INTERVAL = 1.0


@before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and "request_id" not in headers:
        headers["request_id"] = request_id_var.get()


@task_prerun.connect
def _restore_request_id(task: Any = None, **_: Any) -> None:
    request_id = getattr(task.request, "request_id", None) if task is not None else None
    request_id_var.set(request_id or "-")
    cache_scope_begin()
    # What Django does at each request, for each task: a connection past CONN_MAX_AGE or broken by an
    # error is closed, and a kept one is checked before its first use (CONN_HEALTH_CHECKS). Celery's
    # own closing after every task is off (CELERY_DB_REUSE_MAX), so workers keep their connections.
    # Not for a task run eagerly, in the caller's own (possibly open) transaction, as Celery's fixup.
    if task is None or not getattr(task.request, "is_eager", False):
        close_old_connections()


@task_postrun.connect
def _clear_request_id(**_: Any) -> None:
    request_id_var.set("-")
    cache_scope_end()


_stop = threading.Event()


def _beat(hostname: str) -> None:
    from core.utils.redis import get_redis

    while True:
        client = get_redis()
        if client is None:
            return
        try:
            now = time.time()
            pipe = client.pipeline()
            pipe.zadd(HEARTBEAT_KEY, {hostname: now})
            pipe.zremrangebyscore(HEARTBEAT_KEY, "-inf", now - 3600)
            pipe.execute()
        except Exception:  # Redis down: the health check will say so; keep trying
            logger.debug("worker heartbeat not written", exc_info=True)
        if _stop.wait(HEARTBEAT_INTERVAL):
            return


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    hostname = getattr(sender, "hostname", None) or f"{socket.gethostname()}-{os.getpid()}"
    _stop.clear()
    threading.Thread(target=_beat, args=(hostname,), name="heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    _stop.set()
