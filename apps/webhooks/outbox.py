"""The webhook outbox on the shared engine (core.outbox): which messages are due, how a batch is
tried (signed, posted at once by the transport, each answer recorded), and what becomes of a claim
whose drain died.

At least once: a message is `sending` only while a drain holds its lease; one whose lease ran out is
tried again with the same webhook-id, which receivers deduplicate on, and the lost try counts as an
attempt. A 2xx within WEBHOOK_TIMEOUT is success; anything else is retried after the next pause of
WEBHOOK_RETRY_SCHEDULE, then the message fails. Each endpoint host has a circuit breaker, so a host
that is down costs one probe per cool-down instead of a timeout per message.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.webhooks import dispatch, metrics
from apps.webhooks.models import MessageStatus, WebhookEndpoint, WebhookMessage
from apps.webhooks.record import attempt_record, message_finish, message_release
from apps.webhooks.signing import signed_headers
from apps.webhooks.transport import USER_AGENT, Post, posts_send
from core.outbox.claim import rows_claim, rows_expired
from core.outbox.drain import Drain, DrainResult, Due, due_read
from core.outbox.lease import lease_until
from core.patterns.circuit_breaker import CircuitBreaker
from core.wake import MAX_TIMER

# Messages a drain claims at once (and posts at once, a thread each).
BATCH = 5

_breakers: dict[str, CircuitBreaker] = {}


def _breaker(host: str) -> CircuitBreaker:
    if host not in _breakers:
        _breakers[host] = CircuitBreaker(
            f"webhook:{host}",
            failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
            reset_timeout=settings.CIRCUIT_RESET_TIMEOUT,
        )
    return _breakers[host]


def messages_claim(limit: int = BATCH) -> list[WebhookMessage]:
    now = timezone.now()
    claimed = rows_claim(
        WebhookMessage,
        where="c.status = %(pending)s AND c.next_attempt_at <= %(now)s",
        order_by="c.next_attempt_at, c.id",
        limit=limit,
        assign={
            "status": MessageStatus.SENDING,
            "claimed_at": now,
            "lease_until": lease_until(settings.NOTIFICATION_CLAIM_LEASE),
        },
        params={"pending": MessageStatus.PENDING, "now": now},
    )
    endpoints = WebhookEndpoint.objects.in_bulk({m.endpoint_id for m in claimed})
    for message in claimed:
        message.endpoint = endpoints[message.endpoint_id]
    return sorted(claimed, key=lambda m: m.pk)


def messages_reclaim_expired() -> int:
    """Claims whose drain died: the lost try counts as an attempt (it may have reached the receiver),
    and the message goes on as after a failed try."""
    now = timezone.now()
    with transaction.atomic():
        ids = [row[0] for row in rows_expired(WebhookMessage, sending=MessageStatus.SENDING, now=now)]
        for message in WebhookMessage.objects.filter(pk__in=ids).order_by("pk"):
            attempt_record(
                message,
                status_code=None,
                duration_ms=0,
                error="worker_lost: the drain stopped while sending; the outcome is unknown",
                response_text="",
            )
    return len(ids)


def _secrets(endpoint: WebhookEndpoint) -> list[str]:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > timezone.now()
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


def _prepare(message: WebhookMessage) -> Post | None:
    """The signed request for `message`, or None when it is not to be tried now (its endpoint was
    disabled: failed; its host's circuit is open: back to the outbox)."""
    endpoint = message.endpoint
    if endpoint.disabled_at is not None:
        message_finish(message, MessageStatus.FAILED, f"endpoint disabled: {endpoint.disabled_reason}")
        return None
    decision = _breaker(urlsplit(endpoint.url).hostname or "").before_call()
    if not decision.allowed:
        message_release(message, wait=decision.retry_in or 1.0)
        return None
    body = json.dumps(message.body, separators=(",", ":"), ensure_ascii=False)
    headers = {
        **signed_headers(message_id=message.message_id, body=body, secrets_=_secrets(endpoint)),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    return Post(endpoint.url, body.encode(), headers, context=message)


def _conclude(post: Post) -> bool:
    """Count the answer in the host's circuit and record the attempt; True for a 2xx."""
    message: WebhookMessage = post.context
    breaker = _breaker(urlsplit(post.url).hostname or "")
    status_code = post.status_code
    if post.ok or (status_code is not None and status_code < 500 and status_code != 429):
        breaker.record_success()  # the host answered
    elif not post.refused:
        breaker.record_failure()
    metrics.WEBHOOK_ATTEMPTS.labels("success" if post.ok else "failure").inc()
    error = post.error or ("" if post.ok else f"HTTP {status_code}")
    attempt_record(
        message,
        status_code=status_code,
        duration_ms=post.duration_ms,
        error=error,
        response_text=post.response_text,
    )
    return post.ok


def messages_send(batch: list[WebhookMessage]) -> int:
    """One try of each message, the HTTP requests of the batch at once; every database write stays in
    this thread. Returns how many succeeded."""
    posts = [post for post in map(_prepare, batch) if post is not None]
    return sum(_conclude(post) for post in posts_send(posts, threads=BATCH))


def message_send(message: WebhookMessage) -> bool:
    """One try of one message; True when the endpoint accepted it."""
    return messages_send([message]) == 1


class WebhookDrain(Drain):
    model = WebhookMessage
    sending = MessageStatus.SENDING

    def reclaim(self) -> int:
        return messages_reclaim_expired()

    def claim(self, limit: int) -> list[WebhookMessage]:
        return messages_claim(limit)

    def send(self, batch: Sequence[Any], result: DrainResult, *, deadline: float) -> None:
        result.sent += messages_send(list(batch))

    def due(self, *, after: datetime) -> Due:
        return due_read(
            WebhookMessage.objects.all(),
            waiting=[MessageStatus.PENDING],
            sending=MessageStatus.SENDING,
            after=after,
            horizon=MAX_TIMER,
        )

    def wake(self, *, countdown: float) -> None:
        dispatch.webhooks_wake(countdown=countdown)


def webhooks_drain(*, budget: float = 1.0) -> int:
    """Send due messages until none is left or `budget` seconds have passed; returns how many went."""
    result = WebhookDrain(batch_size=BATCH, lease=settings.NOTIFICATION_CLAIM_LEASE).run(budget=budget)
    if result.out_of_time:
        dispatch.webhooks_wake()  # more is due: hand over to another drain
    return result.sent
