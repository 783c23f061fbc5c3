from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.inbox.services import inbox_events_prune as prune


@shared_task(ignore_result=True)
def inbox_events_prune() -> int:
    """Hourly (beat): drop stream events past INBOX_EVENTS_KEEP_HOURS (replay needs 24 h at least)."""
    return prune(keep=timedelta(hours=max(24, settings.INBOX_EVENTS_KEEP_HOURS)))
