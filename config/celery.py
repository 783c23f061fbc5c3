"""The Celery application: settings come from Django's (CELERY_* names), tasks from each app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

import core.celery_signals  # noqa: E402 - request ids in tasks, worker heartbeat
import core.worker_metrics  # noqa: E402, F401 - the worker's own /metrics endpoint
