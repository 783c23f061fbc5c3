"""Recording webhook attempts: the attempt log, the message's next try or its end, and the endpoint's
failing streak (410 Gone or WEBHOOK_DISABLE_AFTER of failures disable it)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.webhooks.models import MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookMessage
from apps.webhooks.selectors import endpoints_changed
from core.outbox.backoff import schedule_delay

logger = logging.getLogger(__name__)


@transaction.atomic
def attempt_record(
    message: WebhookMessage, *, status_code: int | None, duration_ms: int, error: str, response_text: str
) -> None:
    """One try of `message`: logged; then sent, retried after the schedule's next pause, or failed."""
    now = timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
    WebhookAttempt.objects.create(
        message=message,
        endpoint=endpoint,
        status_code=status_code,
        duration_ms=duration_ms,
        error=error[:500],
        response_body=response_text[:2000],
    )
    message.attempts += 1
    message.last_error = error
    if status_code is not None and 200 <= status_code < 300:
        message.status, message.sent_at, message.claimed_at = MessageStatus.SENT, now, None
        message.save(update_fields=["status", "sent_at", "claimed_at", "attempts", "last_error"])
        if endpoint.failing_since is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=now)
    if status_code == 410:
        endpoint_disable(endpoint, "The endpoint answered 410 Gone.")
        message_finish(message, MessageStatus.FAILED, error)
        return
    pause = schedule_delay(message.attempts, settings.WEBHOOK_RETRY_SCHEDULE)
    if pause is not None:
        message.status, message.claimed_at = MessageStatus.PENDING, None
        message.next_attempt_at = now + timedelta(seconds=pause)
        message.save(update_fields=["status", "claimed_at", "next_attempt_at", "attempts", "last_error"])
        return
    message_finish(message, MessageStatus.FAILED, error)
    if now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER):
        endpoint_disable(endpoint, f"Every event failed for {settings.WEBHOOK_DISABLE_AFTER} s.")


def endpoint_disable(endpoint: WebhookEndpoint, reason: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_at=timezone.now(), disabled_reason=reason)
    endpoints_changed()  # update() sends no post_save: no new events for it from now on
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


def message_finish(message: WebhookMessage, status: str, error: str) -> None:
    message.status, message.claimed_at, message.last_error = status, None, error
    message.save(update_fields=["status", "claimed_at", "last_error", "attempts"])


def message_release(message: WebhookMessage, *, wait: float) -> None:
    """Back to the outbox without a try (the host's circuit is open)."""
    message.status, message.claimed_at = MessageStatus.PENDING, None
    message.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    message.save(update_fields=["status", "claimed_at", "next_attempt_at"])
