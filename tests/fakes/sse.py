"""A Server-Sent Events client for tests: reads a real stream over HTTP in a thread of its own and
keeps every event (id, type, data) and comment line, as a browser's EventSource would see them."""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.worker import wait_for


@dataclass
class Event:
    id: str | None
    event: str
    data: Any
    received_at: float = 0.0


@dataclass
class SSEClient:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int = 0
    answer: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: threading.Event = field(default_factory=threading.Event)
    verify: Any = True

    def __post_init__(self) -> None:
        self._opened, self._stop = threading.Event(), threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, read=None), verify=self.verify)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def open(self) -> "SSEClient":
        self._thread.start()
        if not self._opened.wait(10):
            raise RuntimeError(f"no answer from {self.url}")
        return self

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self.status, self.answer = response.status_code, dict(response.headers)
                self._opened.set()
                if response.status_code != 200:
                    self.body = response.read()
                    return
                self._read(response.iter_lines())
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.ended.set()

    def _read(self, lines: Any) -> None:
        fields: dict[str, str] = {}
        for line in lines:
            if self._stop.is_set():
                return
            if line == "":
                if "data" in fields:
                    data = json.loads(fields["data"])
                    self.events.append(
                        Event(fields.get("id"), fields.get("event", "message"), data, time.time())
                    )
                fields = {}
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value

    def of(self, event: str) -> list[Event]:
        return [e for e in self.events if e.event == event]

    def last_id(self) -> str | None:
        ids = [e.id for e in self.events if e.id is not None]
        return ids[-1] if ids else None

    def wait(self, predicate: Callable[["SSEClient"], object], timeout: float = 15.0) -> bool:
        return bool(wait_for(lambda: predicate(self), timeout=timeout, interval=0.02))

    def close(self) -> None:
        """Stop reading (at the next line: the server's heartbeats bound the wait) and disconnect."""
        self._stop.set()
        self._thread.join(10)
        self._client.close()
