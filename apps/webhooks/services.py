"""Writes of the webhooks app: endpoints (create, change, rotate the secret, delete), and the messages
an event becomes, one per subscribed endpoint, in the transaction that caused the event."""

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.webhooks import dispatch
from apps.webhooks.models import EventType, WebhookEndpoint, WebhookMessage
from apps.webhooks.selectors import endpoints_subscribed
from apps.webhooks.signing import message_id_new, secret_new
from core.utils.dates import iso_utc

# After a rotation the previous secret signs too, this long.
ROTATION_OVERLAP = timedelta(hours=24)


def message_body(message_id: str, type_: str, data: dict[str, Any]) -> dict[str, Any]:
    now = iso_utc(timezone.now())
    return {"id": message_id, "type": type_, "timestamp": now, "data": data}


def messages_create(
    events: list[tuple[str, dict[str, Any]]], *, endpoint_ids: list[int] | None = None
) -> int:
    """One message per (event, subscribed endpoint), or per event and each of `endpoint_ids` whether
    subscribed or not; the drain is woken once the transaction commits."""
    subscribed = endpoints_subscribed()
    now = timezone.now()
    messages = []
    for type_, data in events:
        for endpoint_id, types in subscribed:
            if (endpoint_ids is None and type_ in types) or (endpoint_ids and endpoint_id in endpoint_ids):
                message_id = message_id_new()
                messages.append(
                    WebhookMessage(
                        endpoint_id=endpoint_id,
                        message_id=message_id,
                        type=type_,
                        body=message_body(message_id, type_, data),
                        next_attempt_at=now,
                    )
                )
    if messages:
        WebhookMessage.objects.bulk_create(messages)
        transaction.on_commit(dispatch.webhooks_wake)
    return len(messages)


def endpoint_create(*, api_key: Any, url: str, events: list[str], description: str = "") -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        api_key=api_key, url=url, events=events, description=description, secret=secret_new()
    )


def endpoint_update(*, endpoint: WebhookEndpoint, data: dict[str, Any]) -> WebhookEndpoint:
    """Change `url`, `events`, `description`; `enabled` true turns a disabled endpoint back on (its
    failing streak forgotten), false turns it off."""
    for field in ("url", "events", "description"):
        if field in data:
            setattr(endpoint, field, data[field])
    if data.get("enabled") is True:
        endpoint.disabled_at, endpoint.disabled_reason, endpoint.failing_since = None, "", None
    elif data.get("enabled") is False and endpoint.disabled_at is None:
        endpoint.disabled_at, endpoint.disabled_reason = timezone.now(), "Disabled through the API."
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the previous one still signs for ROTATION_OVERLAP (both signatures are sent)."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = secret_new()
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_test(*, endpoint: WebhookEndpoint) -> int:
    """Queue a `webhook.test` event for this endpoint, subscribed or not."""
    return messages_create(
        [(EventType.WEBHOOK_TEST, {"endpoint": endpoint.pk, "message": "This is a test event."})],
        endpoint_ids=[endpoint.pk],
    )
