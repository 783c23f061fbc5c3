"""The Celery application: settings come from Django's (CELERY_* names), tasks from each app."""

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _broker_url_of_the_settings(sender: Celery, **_: Any) -> None:
    """Celery prefers the CELERY_BROKER_URL environment variable to its configuration, but the settings
    may have rewritten that URL (with REDIS_SENTINELS the Sentinels win over its host): use theirs."""
    from django.conf import settings

    if "CELERY_BROKER_URL" in os.environ:
        os.environ["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL


import core.celery_signals  # noqa: E402 - request ids in tasks, worker heartbeat
import core.worker_metrics  # noqa: E402, F401 - the worker's own /metrics endpoint
