"""How inbox events reach the stream processes: a Redis pub/sub channel when REDIS_URL is set, and
always the InboxEvent table, which every stream process also polls (every INBOX_POLL_SECONDS without
Redis; less often with it, for a publish Redis lost). Workers publish; stream processes listen."""

import json
import logging
import os
import socket
from collections.abc import Iterable
from typing import Any

import redis

from apps.inbox.metrics import EVENTS_PUBLISHED, PUBLISH_FAILURES
from apps.inbox.models import InboxEvent
from core.utils.redis import get_redis

logger = logging.getLogger(__name__)

CHANNEL = "inbox:events"


def event_message(event: InboxEvent) -> dict[str, Any]:
    """What travels to the stream processes: the row as they would read it from the table."""
    return {"id": event.pk, "customer": event.customer_id, "event": event.kind, "data": event.data}


def events_publish(events: Iterable[InboxEvent]) -> None:
    """Publish stored events (after their transaction committed). Never raises: a lost publish is
    found by the stream processes' poll of the table, a little later."""
    events = list(events)
    for event in events:
        EVENTS_PUBLISHED.labels(event.kind).inc()
    client = get_redis()
    if client is None or not events:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.publish(CHANNEL, json.dumps(event_message(event), separators=(",", ":")))
            pipe.execute()
    except redis.RedisError as exc:
        PUBLISH_FAILURES.inc()
        logger.warning("inbox events not published (%s); stream processes will poll them", exc)


BEAT_PREFIX = "inbox:stream:"
BEAT_TTL = 30


def process_beat(open_streams: int, subscribed: bool) -> None:
    """A stream process says it is alive (for BEAT_TTL seconds), how many streams it holds and
    whether its Redis subscription runs."""
    client = get_redis()
    if client is None:
        return
    report = {"open": open_streams, "subscribed": subscribed}
    client.set(_beat_key(), json.dumps(report), ex=BEAT_TTL)


def process_gone() -> None:
    """A stream process shutting down leaves the list at once, not BEAT_TTL seconds later."""
    client = get_redis()
    if client is not None:
        client.delete(_beat_key())


def _beat_key() -> str:
    return f"{BEAT_PREFIX}{socket.gethostname()}:{os.getpid()}"


def stream_processes() -> dict[str, dict[str, Any]] | None:
    """The stream processes heard from in the last BEAT_TTL seconds (None without Redis)."""
    client = get_redis()
    if client is None:
        return None
    keys = sorted(client.scan_iter(f"{BEAT_PREFIX}*", count=100))
    values = client.mget(keys) if keys else []
    return {
        key.decode()[len(BEAT_PREFIX) :]: json.loads(value)
        for key, value in zip(keys, values, strict=True)
        if value is not None
    }
