"""Telegram Bot API channel: sendMessage over one keep-alive httpx client per worker process."""

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from django.conf import settings

from apps.notifications.channels.base import (
    Channel,
    OutgoingMessage,
    PermanentError,
    Sent,
    TransientError,
    send_in_lanes,
)
from core.patterns.rate_limit import (
    Limit,
    RateLimitUnavailable,
    acquire,
    acquire_each,
    available,
    sent,
)

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096
# Longest 429 wait honoured inside one attempt, for the later parts of a split message.
MAX_INLINE_WAIT = 10.0


def split_text(text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Split a text into parts of at most `limit` characters, at a line break, else a space.

    The limit applies to the text after entity parsing, so measuring the raw (escaped) text is safe.
    A cut never falls inside an HTML entity such as `&amp;`.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = max(cut, window.rfind(" "))
        if cut <= 0:
            cut = limit
            amp = window.rfind("&", limit - 10)
            if amp != -1 and ";" not in window[amp:]:
                cut = amp
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest)
    return parts


class TelegramChannel(Channel):
    name = "telegram"

    def __init__(self) -> None:
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None

    def send_many(
        self, messages: list[OutgoingMessage], *, stop: Callable[[Sent], bool] | None = None
    ) -> list[Sent | None]:
        """A batch's messages went through the rate limiter together (each holds its slot, to a
        different chat): send them TELEGRAM_CONNECTIONS at a time over the keep-alive client."""
        connections = max(1, settings.TELEGRAM_CONNECTIONS)
        lanes = min(connections, len(messages))
        if lanes <= 1:
            return super().send_many(messages, stop=stop)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="telegram")
        return send_in_lanes(self._pool, [self] * lanes, messages, stop)

    def is_configured(self) -> bool:
        return bool(settings.TELEGRAM_BOT_TOKEN)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=settings.TELEGRAM_API_BASE_URL,
                timeout=httpx.Timeout(10.0, connect=5.0),
                limits=httpx.Limits(max_keepalive_connections=4, keepalive_expiry=60),
            )
        return self._client

    @staticmethod
    def _limits(address: str) -> tuple[Limit, Limit]:
        """The bot's limit, shared by every chat, and the limit of one chat."""
        window = settings.TELEGRAM_RATE_WINDOW
        return (
            Limit("ratelimit:telegram:bot", settings.TELEGRAM_RATE_PER_BOT, window),
            Limit(f"ratelimit:telegram:chat:{address}", 1, settings.TELEGRAM_PER_CHAT_INTERVAL + window - 1),
        )

    def reserve(self, address: str) -> float:
        # Build the client (its TLS context takes tens of milliseconds) before the slot is taken,
        # so the send follows the slot at once.
        _ = self.client
        return acquire(list(self._limits(address)))

    def capacity(self, want: int = 1) -> tuple[int, float]:
        return available(self._limits("")[0], want)

    def reserve_many(self, addresses: list[str]) -> list[float]:
        # One round trip for a whole batch: the bot's 30/s shared by all, 1/s per chat.
        _ = self.client
        return acquire_each(self._limits("")[0], [self._limits(address)[1] for address in addresses])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, message: OutgoingMessage) -> str:
        """Send every part of the text; returns the message ids, comma-separated."""
        ids = []
        plain_parts = split_text(message.body_plain)
        for index, part in enumerate(split_text(message.body)):
            if index:
                # Once the first part is out, waiting for the rate limits here is better than failing
                # the attempt and sending that part twice.
                try:
                    while (wait := self.reserve(message.address)) > 0:
                        time.sleep(wait)
                except RateLimitUnavailable:
                    raise TransientError("Rate limiter unavailable", code="ratelimit_unavailable") from None
            try:
                result = self._send_part(message.address, part, first=index == 0, silent=message.silent)
            except PermanentError as exc:
                if "can't parse entities" not in str(exc):
                    raise
                # Our escaping should prevent this; if a template's markup is broken, send plain text.
                fallback = plain_parts[index] if len(plain_parts) > index else part
                logger.warning("Telegram rejected HTML entities; resending as plain text")
                result = self._send_message(message.address, fallback, parse_mode=None, silent=message.silent)
            ids.append(str(result["message_id"]))
            with contextlib.suppress(RateLimitUnavailable):
                sent(self._limits(message.address)[1])  # the chat's next slot counts from here
        return ",".join(ids)

    def _send_part(self, chat_id: str, text: str, *, first: bool, silent: bool) -> dict[str, Any]:
        try:
            return self._send_message(chat_id, text, parse_mode="HTML", silent=silent)
        except TransientError as exc:
            if first or exc.retry_after is None or exc.retry_after > MAX_INLINE_WAIT:
                raise
            time.sleep(exc.retry_after)
            return self._send_message(chat_id, text, parse_mode="HTML", silent=silent)

    def _send_message(
        self, chat_id: str, text: str, *, parse_mode: str | None, silent: bool = False
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "link_preview_options": {"is_disabled": True},
        }
        if silent:
            payload["disable_notification"] = True
        if parse_mode:
            payload["parse_mode"] = parse_mode
        try:
            # The token is in the path; httpx's own INFO log of URLs is silenced in settings.LOGGING.
            response = self.client.post(f"/bot{settings.TELEGRAM_BOT_TOKEN}/sendMessage", json=payload)
        except httpx.TransportError as exc:
            self.close()
            raise TransientError(
                f"Telegram unreachable: {exc.__class__.__name__}", code="telegram_network"
            ) from None
        return self._interpret(response)

    @staticmethod
    def _interpret(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and body.get("ok"):
            return dict(body["result"])
        status = int(body.get("error_code") or response.status_code)
        description = str(body.get("description") or response.reason_phrase)
        params = dict(body.get("parameters") or {})
        code = f"telegram_{status}"
        if status == 429:
            retry_after = float(params.get("retry_after") or response.headers.get("Retry-After") or 1)
            raise TransientError(description, code=code, retry_after=retry_after, params=params)
        if status >= 500:
            raise TransientError(description, code=code, params=params)
        if params.get("migrate_to_chat_id"):
            params["migrate_to"] = str(params["migrate_to_chat_id"])
        if status == 403:
            params["unreachable"] = True  # blocked by the user, or the user is deactivated
            params["suppress"] = "blocked"
        raise PermanentError(description, code=code, params=params)
