"""API sends: one notification per request, made once per Idempotency-Key (a replay with the same body
gets the first one back, another body under the same key is a conflict)."""

import hashlib
import json
from typing import Any

from django.db import IntegrityError

from apps.customers.models import Category, Customer
from apps.notifications.models import Event, Notification, Priority, Strategy
from apps.notifications.planning import MessageSource, notification_create


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


def request_fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def notification_send(
    *, api_key: Any, idempotency_key: str | None, customer: Customer, data: dict[str, Any]
) -> tuple[Notification, bool]:
    """An API send; returns (notification, created). A replayed Idempotency-Key returns the first one.

    `data` is the validated request; its fingerprint tells a replay from a reuse with another body.
    """
    fingerprint = request_fingerprint(data)
    if idempotency_key:
        existing = _idempotent_replay(api_key, idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
    source = MessageSource.from_request(data)
    try:
        notification = notification_create(
            customer=customer,
            event=Event.CUSTOM,
            source=source,
            category=data.get("category") or Category.MARKETING,
            context=data.get("context") or {},
            channels=data.get("channels"),
            strategy=data.get("strategy") or Strategy.ALL,
            priority=data.get("priority") or Priority.NORMAL,
            api_key=api_key,
            idempotency_key=idempotency_key or None,
            fingerprint=fingerprint,
            refuse_over_budget=True,
            send_at=data.get("send_at"),
            cancellation_key=data.get("cancellation_key") or "",
        )
    except IntegrityError:
        # A concurrent request with the same key won the insert.
        existing = _idempotent_replay(api_key, idempotency_key or "", fingerprint)
        if existing is None:
            raise
        return existing, False
    return notification, True


def _idempotent_replay(api_key: Any, idempotency_key: str, fingerprint: str) -> Notification | None:
    existing = Notification.objects.filter(api_key=api_key, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(idempotency_key)
    return existing
