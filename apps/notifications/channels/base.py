"""The channel contract: send one message, return the provider's id or raise a classified error."""

from dataclasses import dataclass, field
from typing import Any, ClassVar


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


class TransientError(ChannelError):
    """Worth retrying later: timeouts, connection errors, SMTP 4xx, HTTP 5xx, Telegram 429."""

    transient = True


class PermanentError(ChannelError):
    """Retrying cannot help: SMTP 5xx, Telegram 400/401/403."""

    transient = False


class Channel:
    """Base class; one instance per worker process, so subclasses may keep connections open."""

    name: ClassVar[str]
    # False for channels that reach operators, not customers (Apprise): notifications never plan them.
    for_customers: ClassVar[bool] = True
    # True for channels whose messages can carry a one-click unsubscribe link (email headers).
    carries_unsubscribe: ClassVar[bool] = False

    def is_configured(self) -> bool:
        raise NotImplementedError

    def send(self, message: OutgoingMessage) -> str:
        raise NotImplementedError

    def reserve(self, address: str) -> float:
        """Take a slot under the provider's rate limits: 0, or the seconds to wait first.

        May raise core.patterns.rate_limit.RateLimitUnavailable when the shared store is down.
        """
        return 0.0

    def capacity(self) -> tuple[int, float]:
        """Sends the provider's shared limit allows now (a hint for the batch size), and when none
        does, the seconds until one will. Unlimited channels: as many as a batch holds."""
        return 1_000_000, 0.0

    def reserve_many(self, addresses: list[str]) -> list[float]:
        """`reserve` for a batch, in order, at once: the wait of each address (0: its slot is taken)."""
        return [0.0] * len(addresses)

    def close(self) -> None:
        """Release connections; the next send opens new ones."""
