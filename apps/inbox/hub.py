"""One hub per stream process: the open streams by customer, fed with the events every worker
stores, through one Redis subscription (when REDIS_URL is set) and a poll of the InboxEvent table.

Both paths may bring the same event; the hub hands each event id to the streams once. The poll
reads from a floor that trails the newest id by POLL_LAG seconds, so an event whose transaction
committed after a later one's is still found (ids are taken before commit, not in commit order).
"""

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Max

from apps.inbox.bus import CHANNEL, process_beat
from apps.inbox.models import InboxEvent

logger = logging.getLogger(__name__)

POLL_LAG = 10.0  # seconds an event's commit may trail the next id's
SEEN_FOR = 120.0  # seconds an event id is remembered as handed out
QUEUE_LIMIT = 1000  # events waiting for one slow stream before it is closed (the browser replays)
HEARTBEAT_EVERY = 10.0  # seconds between this process's reports to /health/


@dataclass(eq=False)
class Listener:
    """One open stream's mailbox."""

    customer_id: int
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False


def run_sync(function: Any, *args: Any) -> Any:
    """Run ORM work off the event loop on the shared thread pool (not a thread per stream)."""

    def call() -> Any:
        close_old_connections()
        return function(*args)

    return sync_to_async(call, thread_sensitive=False)()


def _newest_id() -> int:
    return int(InboxEvent.objects.aggregate(newest=Max("id"))["newest"] or 0)


def _events_after(floor: int, page: int = 2000) -> list[dict[str, Any]]:
    """Every event after `floor`, in id order (read a page at a time)."""
    found: list[dict[str, Any]] = []
    while True:
        rows = list(InboxEvent.objects.filter(id__gt=floor).order_by("id")[:page])
        found += [{"id": e.pk, "customer": e.customer_id, "event": e.kind, "data": e.data} for e in rows]
        if len(rows) < page:
            return found
        floor = rows[-1].pk


class Hub:
    def __init__(self) -> None:
        self.listeners: dict[int, set[Listener]] = {}
        self.seen: dict[int, float] = {}
        self.redis_live = False
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._beat_now = asyncio.Event()  # the subscription came or went: report it at once

    @property
    def open_streams(self) -> int:
        return sum(len(group) for group in self.listeners.values())

    def open(self, customer_id: int) -> Listener:
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._poll()))
            if settings.REDIS_URL:
                self._tasks.append(asyncio.create_task(self._listen()))
                self._tasks.append(asyncio.create_task(self._heartbeat()))
        listener = Listener(customer_id)
        self.listeners.setdefault(customer_id, set()).add(listener)
        return listener

    def close(self, listener: Listener) -> None:
        group = self.listeners.get(listener.customer_id)
        if group is not None:
            group.discard(listener)
            if not group:
                del self.listeners[listener.customer_id]

    def dispatch(self, message: dict[str, Any]) -> None:
        event_id = int(message["id"])
        if event_id in self.seen:
            return
        self.seen[event_id] = time.monotonic()
        for listener in self.listeners.get(int(message["customer"]), ()):
            try:
                listener.queue.put_nowait(message)
            except asyncio.QueueFull:
                listener.overflowed = True

    def _forget_old(self) -> None:
        cutoff = time.monotonic() - SEEN_FOR
        for event_id in [e for e, at in self.seen.items() if at < cutoff]:
            del self.seen[event_id]

    async def _poll(self) -> None:
        """Read new rows: every INBOX_POLL_SECONDS, or less often while the Redis subscription runs
        (then the poll only finds what a lost publish missed), and at once after it (re)subscribed."""
        floors: deque[tuple[float, int]] = deque()
        floor = await run_sync(_newest_id)
        while True:
            every = settings.INBOX_POLL_SECONDS_WITH_REDIS if self.redis_live else settings.INBOX_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), every)
            self._wake.clear()
            if not self.listeners:  # nobody to tell: start from the newest event when someone is
                floors.clear()
                with contextlib.suppress(Exception):
                    floor = await run_sync(_newest_id)
                continue
            try:
                messages = await run_sync(_events_after, floor)
            except Exception:
                logger.exception("inbox events could not be read; trying again")
                continue
            for message in messages:
                self.dispatch(message)
            now = time.monotonic()
            newest = messages[-1]["id"] if messages else floors[-1][1] if floors else floor
            floors.append((now, newest))
            while len(floors) > 1 and floors[1][0] <= now - POLL_LAG:
                floors.popleft()
            if floors[0][0] <= now - POLL_LAG:
                floor = max(floor, floors[0][1])
            self._forget_old()

    async def _heartbeat(self) -> None:
        """What /health/ shows of this process: its open streams and whether it is subscribed."""
        while True:
            with contextlib.suppress(Exception):
                await run_sync(process_beat, self.open_streams, self.redis_live)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat_now.wait(), HEARTBEAT_EVERY)
            self._beat_now.clear()

    async def _listen(self) -> None:
        """The Redis subscription, opened again after any error."""
        while True:
            client = _async_redis()
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.redis_live = True
                    self._beat_now.set()  # the first report may have gone out before this
                    self._wake.set()  # read what was published while we were not subscribed
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.dispatch(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.redis_live:
                    logger.warning("inbox subscription lost (%s); polling the table until it is back", exc)
                    self._beat_now.set()
                self.redis_live = False
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


def _async_redis() -> Any:
    import redis.asyncio as aioredis
    from redis.asyncio.sentinel import Sentinel

    from core.redis_config import _db_and_password

    options: dict[str, Any] = {
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "health_check_interval": 30,
    }
    if settings.REDIS_SENTINELS:
        sentinel = Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs={"socket_connect_timeout": 2.0})
        return sentinel.master_for(
            settings.REDIS_SENTINEL_MASTER, **options, **_db_and_password(settings.REDIS_URL)
        )
    return aioredis.from_url(settings.REDIS_URL, **options)


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    """The hub of the running event loop (one per process under uvicorn)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(id(loop))
    if found is None:
        found = _hubs[id(loop)] = Hub()
    return found
