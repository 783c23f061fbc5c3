"""The channel contract: send one message, return the provider's id or raise a classified error."""

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, cast

from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingMessage:
    address: str
    subject: str
    body: str
    body_plain: str
    body_html: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    # One-click unsubscribe from this kind of message (channels that can carry it: email headers).
    unsubscribe_url: str = ""
    # The customer is in quiet hours: deliver without a sound where the provider can.
    silent: bool = False
    # Where the message comes from, for channels that store it (the in-app inbox).
    delivery_id: int = 0
    notification_id: int = 0
    customer_id: int = 0
    category: str = ""


class ChannelError(Exception):
    """A failed send. `code` is stable and short (e.g. `smtp_451`, `telegram_403`).

    `params` may carry `unreachable=True` (the contact refused us for good) or `migrate_to` (the
    provider moved the contact to a new address).
    """

    transient: ClassVar[bool]

    def __init__(
        self,
        message: str,
        *,
        code: str,
        retry_after: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        self.params = params or {}
        # Set by a channel with several providers: the one that answered so, and those tried before.
        self.provider = ""
        self.hops: tuple[Hop, ...] = ()


class TransientError(ChannelError):
    """Worth retrying later: timeouts, connection errors, SMTP 4xx, HTTP 5xx, Telegram 429."""

    transient = True


class PermanentError(ChannelError):
    """Retrying cannot help: SMTP 5xx, Telegram 400/401/403."""

    transient = False


@dataclass(frozen=True)
class Hop:
    """A provider that could not take a message before the channel moved it to the next one."""

    provider: str
    started_at: datetime
    duration_ms: int
    error: ChannelError


@dataclass(frozen=True)
class Handed:
    """A send's answer from a channel with several providers: which one took the message, its id
    for the message, and the providers tried before it."""

    provider_id: str
    provider: str
    hops: tuple[Hop, ...] = ()


@dataclass(frozen=True)
class Sent:
    """What one send came to: the provider's id, or the error; and how long the call took."""

    provider_id: str = ""
    error: ChannelError | None = None
    started_at: datetime | None = None
    duration_ms: int = 0
    provider: str = ""
    hops: tuple[Hop, ...] = ()


def send_one(send: Callable[[OutgoingMessage], "str | Handed"], message: OutgoingMessage) -> Sent:
    started_at, started = timezone.now(), time.perf_counter()
    provider, hops = "", cast("tuple[Hop, ...]", ())
    try:
        answer, error = send(message), None
        if isinstance(answer, Handed):
            provider_id, provider, hops = answer.provider_id, answer.provider, answer.hops
        else:
            provider_id = answer
    except ChannelError as exc:
        provider_id, error, provider, hops = "", exc, exc.provider, exc.hops
    except Exception as exc:
        logger.exception("unexpected error from a channel while sending to %s", message.address)
        provider_id, error = "", TransientError(f"{exc.__class__.__name__}: {exc}", code="internal_error")
    return Sent(provider_id, error, started_at, int((time.perf_counter() - started) * 1000), provider, hops)


def send_in_lanes(
    pool: ThreadPoolExecutor,
    senders: Sequence["Channel"],
    messages: list[OutgoingMessage],
    stop: Callable[[Sent], bool] | None,
) -> list[Sent | None]:
    """Deal the messages round-robin over the senders, one thread each (each sender its own
    connection, or one thread-safe client several times); the results in the messages' order."""
    lanes = len(senders)
    futures = [
        pool.submit(Channel.send_many, sender, messages[lane::lanes], stop=stop)
        for lane, sender in enumerate(senders)
    ]
    results: list[Sent | None] = [None] * len(messages)
    for lane, future in enumerate(futures):
        for index, sent in enumerate(future.result()):
            results[lane + index * lanes] = sent
    return results


class Channel:
    """Base class; one instance per worker process, so subclasses may keep connections open."""

    name: ClassVar[str]
    # False for channels that reach operators, not customers (Apprise): notifications never plan them.
    for_customers: ClassVar[bool] = True
    # True for channels whose messages can carry a one-click unsubscribe link (email headers).
    carries_unsubscribe: ClassVar[bool] = False
    # True for channels a customer has only when their `channels` name it (never planned otherwise).
    opt_in: ClassVar[bool] = False
    # True for channels whose messages make no sound: quiet hours never hold them back.
    soundless: ClassVar[bool] = False

    def is_configured(self) -> bool:
        raise NotImplementedError

    def send(self, message: OutgoingMessage) -> "str | Handed":
        raise NotImplementedError

    def send_many(
        self, messages: list[OutgoingMessage], *, stop: Callable[["Sent"], bool] | None = None
    ) -> list["Sent | None"]:
        """Send several messages; one result per message, in order, None for a message not attempted
        because `stop` (asked after every send) said to stop (a circuit opened). Never raises for one
        message's failure: a classified error, or an unexpected one as a transient `internal_error`
        (a bug must not leave a delivery in `sending`), is that message's result."""
        results: list[Sent | None] = [None] * len(messages)
        for index, message in enumerate(messages):
            results[index] = sent = send_one(self.send, message)
            if stop is not None and stop(sent):
                break
        return results

    def reserve(self, address: str) -> float:
        """Take a slot under the provider's rate limits: 0, or the seconds to wait first.

        May raise core.patterns.rate_limit.RateLimitUnavailable when the shared store is down.
        """
        return 0.0

    def capacity(self, want: int = 1) -> tuple[int, float]:
        """Sends the provider's shared limit allows now (a hint for the batch size), and when fewer
        than `want` do, the seconds until `want` will. Unlimited channels: as many as a batch holds."""
        return 1_000_000, 0.0

    def reserve_many(self, addresses: list[str]) -> list[float]:
        """`reserve` for a batch, in order, at once: the wait of each address (0: its slot is taken)."""
        return [0.0] * len(addresses)

    def close(self) -> None:
        """Release connections; the next send opens new ones."""
