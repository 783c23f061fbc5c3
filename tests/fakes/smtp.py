"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records messages and answers scripted 4xx/5xx."""

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.fakes.processes import free_port


@dataclass
class Reply:
    stage: str  # "RCPT" or "DATA"
    reply: str  # e.g. "451 4.3.0 try later"
    times: float
    address: str | None = None


class _Handler:
    def __init__(self, fake: "FakeSMTP") -> None:
        self.fake = fake

    def _scripted(self, stage: str, address: str) -> str | None:
        with self.fake.lock:
            for rule in self.fake.replies:
                if rule.stage == stage and rule.times > 0 and rule.address in (None, address):
                    rule.times -= 1
                    return rule.reply
        return None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        with self.fake.lock:
            self.fake.rcpt_calls += 1
        scripted = self._scripted("RCPT", address)
        if scripted:
            return scripted
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        scripted = self._scripted("DATA", envelope.rcpt_tos[0] if envelope.rcpt_tos else "")
        if scripted:
            return scripted
        if self.fake.data_delay:
            await asyncio.sleep(self.fake.data_delay)
        gate = self.fake.gate
        if gate is not None and not gate.is_set():
            with self.fake.lock:
                self.fake.held += 1
            while not gate.is_set():  # the server's loop serves other sessions meanwhile
                await asyncio.sleep(0.01)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.fake.lock:
            self.fake.messages.append(message)
            self.fake.connections.add(session.peer)
            self.fake.received_at.append(time.time())
        return "250 Message accepted for delivery"


class FakeSMTP:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.port = free_port()
        self.reset()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> "FakeSMTP":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def reset(self) -> None:
        gate = getattr(self, "gate", None)
        if gate is not None:
            gate.set()  # release what a failed test left held
        with self.lock:
            self.messages: list[EmailMessage] = []
            self.replies: list[Reply] = []
            self.rcpt_calls = 0
            self.received_at: list[float] = []
            self.connections: set[Any] = set()
            # Seconds each DATA takes: a slow provider, so a test can catch a batch mid-send.
            self.data_delay = 0.0
            # While set and closed, each DATA waits for it to open (`held` counts them): a send the
            # test holds for as long as it needs, whatever the machine's load.
            self.gate: threading.Event | None = None
            self.held = 0

    def answer(self, stage: str, reply: str, *, times: float = 1, address: str | None = None) -> None:
        with self.lock:
            self.replies.append(Reply(stage, reply, times, address))

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    return "" if part is None else str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    return "" if part is None else str(part.get_content())
