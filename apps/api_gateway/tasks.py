"""Gateway tasks: the worker heartbeat, scheduled by beat and used by health checks and tests."""

from typing import Any

from celery import shared_task

from apps.api_gateway.services import worker_heartbeat_record


@shared_task(bind=True, ignore_result=True)
def worker_heartbeat(self: Any) -> None:
    worker_heartbeat_record(hostname=self.request.hostname or "unknown")
