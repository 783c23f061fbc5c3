"""GET /inbox/stream/: the live inbox of the token's customer as Server-Sent Events.

A plain ASGI app that config/asgi.py puts in front of Django's handler for this one path: Django's
handler keeps a thread for each request it serves, which thousands of open streams cannot afford.
Each stream is a coroutine and a queue in the process's hub; database reads run on the shared
thread pool.

- `event: notification` (id: the event's number, data: the inbox item) for each new item;
- `event: counts` (data: {"unseen", "unread"}) after every change, and once when the stream opens
  (without an id, so it never moves the browser's Last-Event-ID);
- a comment line every INBOX_HEARTBEAT_SECONDS;
- with Last-Event-ID (header, or `lastEventId` in the query for clients that cannot set headers),
  first every `notification` event after it (up to REPLAY_LIMIT), then live, no event twice;
- the stream ends when the token expires (the browser needs a new one).
"""

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from apps.inbox.cors import cors_headers
from apps.inbox.hub import Listener, hub, run_sync
from apps.inbox.metrics import EVENTS_STREAMED, STREAMS_OPEN
from apps.inbox.models import InboxEvent, InboxEventKind
from apps.inbox.selectors import inbox_counts
from apps.inbox.tokens import BadToken, InboxToken, token_check, token_from

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

PATH = "/inbox/stream/"
REPLAY_LIMIT = 1000
RETRY_MS = 2000  # how soon a browser reconnects after the stream broke


def _replay(customer_id: int, after: int) -> list[dict[str, Any]]:
    rows = InboxEvent.objects.filter(
        customer_id=customer_id, kind=InboxEventKind.NOTIFICATION, id__gt=after
    ).order_by("id")[:REPLAY_LIMIT]
    return [{"id": e.pk, "event": e.kind, "data": e.data} for e in rows]


def _counts(customer_id: int) -> dict[str, int]:
    counts = inbox_counts(customer_id)
    return {"unseen": counts["unseen"], "unread": counts["unread"]}


def frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _answer(send: Send, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
    content = json.dumps(body).encode() if body is not None else b""
    extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if body is not None:
        extra.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": extra})
    await send({"type": "http.response.body", "body": content})


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": None}}


async def stream_app(scope: Scope, receive: Receive, send: Send) -> None:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    origin = headers.get("origin")
    method = scope.get("method", "GET")
    if method == "OPTIONS":
        await _answer(send, 204, None, cors_headers(origin, preflight=True))
        return
    if method != "GET":
        body = _error("method_not_allowed", f'Method "{method}" not allowed.')
        await _answer(send, 405, body, {**cors_headers(origin), "Allow": "GET, OPTIONS"})
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    try:
        token = token_check(token_from((query.get("token") or [None])[0], headers.get("authorization")))
    except BadToken as exc:
        await _answer(send, 401, _error("not_authenticated", str(exc)), cors_headers(origin))
        return
    raw_last = headers.get("last-event-id") or (query.get("lastEventId") or [""])[0]
    if raw_last and not (raw_last.isdigit() and len(raw_last) <= 19):
        body = _error("invalid", "Last-Event-ID must be the id of an event this stream sent.")
        await _answer(send, 400, body, cors_headers(origin))
        return
    await _serve(token, int(raw_last) if raw_last else None, receive, send, cors_headers(origin))


async def _serve(
    token: InboxToken, last: int | None, receive: Receive, send: Send, cors: dict[str, str]
) -> None:
    listener = hub().open(token.customer_id)  # before the replay: nothing falls between the two
    STREAMS_OPEN.inc()
    gone: asyncio.Future[Any] = asyncio.ensure_future(_disconnected(receive))
    try:
        response_headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache, no-transform",
            "x-accel-buffering": "no",
            **cors,
        }
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers.items()],
            }
        )
        await _body(send, f"retry: {RETRY_MS}\n\n".encode())
        sent: set[int] = set()
        if last is not None:
            for event in await run_sync(_replay, token.customer_id, last):
                await _body(send, frame(event["event"], event["data"], event["id"]))
                EVENTS_STREAMED.labels(event["event"]).inc()
                sent.add(event["id"])
        await _body(send, frame("counts", await run_sync(_counts, token.customer_id)))
        await _live(token, listener, gone, send, after=last or 0, sent=sent)
        if not gone.done():  # the token expired, or the stream fell too far behind: end it
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        hub().close(listener)
        STREAMS_OPEN.dec()
        gone.cancel()
        with contextlib.suppress(BaseException):
            await gone


async def _live(
    token: InboxToken,
    listener: Listener,
    gone: "asyncio.Future[Any]",
    send: Send,
    *,
    after: int,
    sent: set[int],
) -> None:
    heartbeat = settings.INBOX_HEARTBEAT_SECONDS
    while not gone.done() and not listener.overflowed:
        left = (token.expires_at - datetime.now(UTC)).total_seconds()
        if left <= 0:
            return
        getting: asyncio.Future[Any] = asyncio.ensure_future(listener.queue.get())
        done, _ = await asyncio.wait(
            {getting, gone}, timeout=min(heartbeat, left), return_when=asyncio.FIRST_COMPLETED
        )
        if getting not in done:
            getting.cancel()
            if not done:
                await _body(send, b": heartbeat\n\n")
            continue
        message = getting.result()
        event_id = int(message["id"])
        if event_id <= after or event_id in sent:  # replayed already, or older than the browser's place
            continue
        await _body(send, frame(message["event"], message["data"], event_id))
        EVENTS_STREAMED.labels(message["event"]).inc()


async def _body(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
