"""gunicorn settings, shared by `make run`, the Docker image and the tests (all through bin/start)."""

import os
from typing import Any

from gunicorn.glogging import Logger

from core.logging import paths_mask

bind = f"{os.environ.get('WEB_HOST', '127.0.0.1')}:{os.environ.get('WEB_PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Behind nginx with keep-alive upstream connections.
keepalive = 5
# The longest documented query (a customer filter of 354 characters, each up to 12 once
# percent-encoded) fits; gunicorn's 4094 would answer 414 in HTML to a valid request.
limit_request_line = 8190
timeout = 30
graceful_timeout = 20
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") == "1" else None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


class AccessLogger(Logger):
    """gunicorn's logger with credentials in paths (the unsubscribe token) masked in the access log."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if isinstance(atoms.get(key), str):
                atoms[key] = paths_mask(atoms[key])
        return atoms


logger_class = AccessLogger


def child_exit(server: object, worker: object) -> None:
    """Prometheus multiprocess mode: forget the live gauges of a worker that exited."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
