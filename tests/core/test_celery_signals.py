"""What the worker's task signals do around a task (core/celery_signals.py)."""

import pytest
from django.db import connection, transaction

from apps.api_gateway.models import WorkerHeartbeat
from apps.api_gateway.tasks import worker_heartbeat


@pytest.mark.django_db
def test_a_task_run_eagerly_keeps_the_callers_transaction_and_connection() -> None:
    """Before each task the worker closes connections past their age (as Django does per request);
    a task run eagerly, inside its caller's transaction, must not close the caller's connection."""
    with transaction.atomic():
        worker_heartbeat.apply()
        assert WorkerHeartbeat.objects.count() == 1  # the connection and its transaction are still there
        assert not connection.needs_rollback
