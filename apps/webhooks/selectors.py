"""Reads of the webhooks app: endpoints of an API key, the subscribed endpoints (cached: every recorded
batch of deliveries asks), and the attempt log."""

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from apps.webhooks.models import WebhookAttempt, WebhookEndpoint
from core.cache import cached, forget_on_commit
from core.utils.ids import parse_id

ENDPOINTS_KEY = "webhooks:endpoints"


def endpoints_subscribed() -> list[tuple[int, list[str]]]:
    """Active endpoints and their event types."""
    return (
        cached(
            "webhook_endpoints",
            ENDPOINTS_KEY,
            lambda: [
                (pk, list(events))
                for pk, events in WebhookEndpoint.objects.filter(disabled_at__isnull=True).values_list(
                    "pk", "events"
                )
            ],
            timeout=settings.CACHE_TIMEOUT,
        )
        or []
    )


def endpoints_changed(**_: Any) -> None:
    """An endpoint was saved, changed or deleted: the subscribed set is read again after commit."""
    forget_on_commit(ENDPOINTS_KEY)


def endpoint_list(*, api_key: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(api_key=api_key).order_by("-created_at", "-id")


def endpoint_get(*, api_key: Any, endpoint_id: str | int) -> WebhookEndpoint:
    """The key's endpoint with this id; 404 for a malformed id, an unknown one or another key's."""
    endpoint = WebhookEndpoint.objects.filter(pk=parse_id(endpoint_id) or 0, api_key=api_key).first()
    if endpoint is None:
        raise Http404("No webhook endpoint with this id.")
    return endpoint


def attempt_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookAttempt]:
    return WebhookAttempt.objects.filter(endpoint=endpoint).select_related("message")
