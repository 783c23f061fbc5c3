"""The webhook drain: claims due messages from the outbox in batches (FOR UPDATE SKIP LOCKED, like
deliveries), signs each one, posts a batch's messages at once (a thread each; the database is written
only by the drain's own thread), records each attempt, and schedules the next try.

At least once: a message is `sending` only while a worker holds it; one held longer than
claim_timeout() (its worker was killed) is claimed again and sent again with the same webhook-id, which
receivers deduplicate on. A 2xx within WEBHOOK_TIMEOUT is success; anything else is retried after
the next pause of WEBHOOK_RETRY_SCHEDULE, then the message fails. 410 Gone disables the endpoint at
once; an endpoint whose messages have been failing for WEBHOOK_DISABLE_AFTER is disabled when one of
them runs out of retries. Each endpoint host has a circuit breaker (core.patterns.circuit_breaker),
so a host that is down costs one probe per cool-down instead of a timeout per message.
"""

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from apps.api_gateway import metrics
from apps.webhooks import dispatch
from apps.webhooks.models import MessageStatus, WebhookAttempt, WebhookEndpoint, WebhookMessage
from apps.webhooks.safety import UnsafeUrl, url_check
from apps.webhooks.signing import signed_headers
from apps.webhooks.subscribers import endpoints_changed
from core.patterns.circuit_breaker import CircuitBreaker

logger = logging.getLogger(__name__)

# Messages a drain claims at once. A claim older than every one of them could take to answer
# (claim_timeout) belongs to a worker that died: the message is claimed again.
BATCH = 5
MAX_RESPONSE_BYTES = 4096
USER_AGENT = "notification-service-webhooks/1"

_CLAIM = """
UPDATE {table} SET status = %(sending)s, claimed_at = %(now)s
WHERE id IN (
    SELECT id FROM {table}
    WHERE (status = %(pending)s AND next_attempt_at <= %(now)s)
       OR (status = %(sending)s AND claimed_at < %(stale)s)
    ORDER BY next_attempt_at, id
    LIMIT %(limit)s
    {lock}
)
RETURNING id
"""

_client: tuple[int, httpx.Client] | None = None
_breakers: dict[str, CircuitBreaker] = {}


def _http() -> httpx.Client:
    """One client per process (pool processes fork: never share one across a fork)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), httpx.Client(timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False))
    return _client[1]


def _breaker(host: str) -> CircuitBreaker:
    if host not in _breakers:
        _breakers[host] = CircuitBreaker(
            f"webhook:{host}",
            failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
            reset_timeout=settings.CIRCUIT_RESET_TIMEOUT,
        )
    return _breakers[host]


def claim_timeout() -> float:
    return BATCH * settings.WEBHOOK_TIMEOUT + 10.0


def messages_claim(limit: int = BATCH) -> list[WebhookMessage]:
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    sql = _CLAIM.format(
        table=WebhookMessage._meta.db_table,
        lock="FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else "",
    )
    params = {
        "sending": MessageStatus.SENDING,
        "pending": MessageStatus.PENDING,
        "now": adapt(now),
        "stale": adapt(now - timedelta(seconds=claim_timeout())),
        "limit": limit,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    return list(WebhookMessage.objects.filter(pk__in=ids).select_related("endpoint").order_by("id"))


def webhooks_drain(*, budget: float = 1.0) -> int:
    """Send due messages until none is left or `budget` seconds have passed; returns how many went."""
    deadline = time.monotonic() + budget
    sent = 0
    while time.monotonic() < deadline:
        batch = messages_claim()
        if not batch:
            break
        sent += messages_send(batch)
    else:
        dispatch.webhooks_wake()  # out of time with more due: hand over to another drain
        return sent
    # A timer for what is due next: a retry, or a claim held by a worker that may have died.
    dues = WebhookMessage.objects.aggregate(
        pending=Min("next_attempt_at", filter=Q(status=MessageStatus.PENDING)),
        claimed=Min("claimed_at", filter=Q(status=MessageStatus.SENDING)),
    )
    candidates = [dues["pending"]]
    if dues["claimed"] is not None:
        candidates.append(dues["claimed"] + timedelta(seconds=claim_timeout()))
    due = min((c for c in candidates if c is not None), default=None)
    if due is not None:
        dispatch.webhooks_wake(countdown=max((due - timezone.now()).total_seconds(), 0.05))
    return sent


def _secrets(endpoint: WebhookEndpoint) -> list[str]:
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > timezone.now()
    ):
        secrets.append(endpoint.previous_secret)
    return secrets


@dataclass
class _Post:
    """One try of one message over HTTP: what went out and what came back."""

    message: WebhookMessage
    breaker: CircuitBreaker
    body: bytes
    headers: dict[str, str]
    status_code: int | None = None
    response_text: str = ""
    error: str = ""
    duration_ms: int = 0


def messages_send(batch: list[WebhookMessage]) -> int:
    """One try of each message, the HTTP requests of the batch at once (a slow receiver holds up one
    thread, not the batch); every database write stays in this thread. Returns how many succeeded."""
    posts = [post for post in map(_prepare, batch) if post is not None]
    if len(posts) > 1:
        list(_posting_threads().map(_post, posts))
    else:
        for post in posts:
            _post(post)
    return sum(_conclude(post) for post in posts)


def message_send(message: WebhookMessage) -> bool:
    """One try of one message; True when the endpoint accepted it."""
    return messages_send([message]) == 1


_threads: tuple[int, ThreadPoolExecutor] | None = None


def _posting_threads() -> ThreadPoolExecutor:
    global _threads
    if _threads is None or _threads[0] != os.getpid():
        _threads = (os.getpid(), ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="webhooks"))
    return _threads[1]


def _prepare(message: WebhookMessage) -> _Post | None:
    """The signed request for `message`, or None when it is not to be tried now (its endpoint was
    disabled: failed; its host's circuit is open: back to the outbox)."""
    endpoint = message.endpoint
    if endpoint.disabled_at is not None:
        _finish(message, MessageStatus.FAILED, f"endpoint disabled: {endpoint.disabled_reason}")
        return None
    breaker = _breaker(urlsplit(endpoint.url).hostname or "")
    decision = breaker.before_call()
    if not decision.allowed:
        _release(message, wait=decision.retry_in or 1.0)
        return None
    body = json.dumps(message.body, separators=(",", ":"), ensure_ascii=False)
    headers = {
        **signed_headers(message_id=message.message_id, body=body, secrets_=_secrets(endpoint)),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    return _Post(message, breaker, body.encode(), headers)


def _post(post: _Post) -> None:
    """The HTTP request (any thread): no database, only the network."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    url = post.message.endpoint.url
    started = time.monotonic()
    try:
        url_check(url, allow_private=allow_private, require_https=not (settings.DEBUG or allow_private))
        with _http().stream("POST", url, content=post.body, headers=post.headers) as response:
            post.status_code = response.status_code
            chunk = b""
            for part in response.iter_bytes():
                chunk += part
                if len(chunk) >= MAX_RESPONSE_BYTES:
                    break
            post.response_text = chunk[:MAX_RESPONSE_BYTES].decode(errors="replace")
    except UnsafeUrl as exc:
        post.error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        post.error = f"{type(exc).__name__}: {exc}"[:500]
    post.duration_ms = int((time.monotonic() - started) * 1000)


def _conclude(post: _Post) -> bool:
    """Count the answer in the host's circuit and record the attempt; True for a 2xx."""
    status_code = post.status_code
    ok = status_code is not None and 200 <= status_code < 300
    if ok or (status_code is not None and status_code < 500 and status_code != 429):
        post.breaker.record_success()  # the host answered
    elif not post.error.startswith("refused"):
        post.breaker.record_failure()
    metrics.WEBHOOK_ATTEMPTS.labels("success" if ok else "failure").inc()
    error = post.error or ("" if ok else f"HTTP {status_code}")
    _record(post.message, status_code, post.duration_ms, error, post.response_text)
    return ok


@transaction.atomic
def _record(
    message: WebhookMessage, status_code: int | None, duration_ms: int, error: str, text: str
) -> None:
    now = timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)
    WebhookAttempt.objects.create(
        message=message,
        endpoint=endpoint,
        status_code=status_code,
        duration_ms=duration_ms,
        error=error[:500],
        response_body=text[:2000],
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
        _disable(endpoint, "The endpoint answered 410 Gone.")
        _finish(message, MessageStatus.FAILED, error)
        return
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if message.attempts <= len(schedule):
        message.status, message.claimed_at = MessageStatus.PENDING, None
        message.next_attempt_at = now + timedelta(seconds=schedule[message.attempts - 1])
        message.save(update_fields=["status", "claimed_at", "next_attempt_at", "attempts", "last_error"])
        return
    _finish(message, MessageStatus.FAILED, error)
    if now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER):
        _disable(endpoint, f"Every event failed for {settings.WEBHOOK_DISABLE_AFTER} s.")


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_at=timezone.now(), disabled_reason=reason)
    endpoints_changed()  # update() sends no post_save: no new events for it from now on
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


def _finish(message: WebhookMessage, status: str, error: str) -> None:
    message.status, message.claimed_at, message.last_error = status, None, error
    message.save(update_fields=["status", "claimed_at", "last_error", "attempts"])


def _release(message: WebhookMessage, *, wait: float) -> None:
    """Back to the outbox without a try (the host's circuit is open)."""
    message.status, message.claimed_at = MessageStatus.PENDING, None
    message.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    message.save(update_fields=["status", "claimed_at", "next_attempt_at"])
