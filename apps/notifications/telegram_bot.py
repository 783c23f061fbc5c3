"""The bot side of Telegram: linking a chat to a customer through a deep link, and /stop.

A shop asks for a link (`telegram_link_create`) and shows it to the signed-in customer; the customer
opens t.me/<bot>?start=<token>, Telegram sends `/start <token>` to our webhook, and the chat is linked.
The token is random, single-use, short-lived and stored only as a hash.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

from apps.customers.models import Customer
from apps.customers.services import telegram_chat_switch, telegram_link_store, telegram_link_use

_bot_username: dict[str, str] = {}


class TelegramNotConfigured(Exception):
    pass


@dataclass(frozen=True)
class LinkOffer:
    url: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bot_username() -> str:
    """TELEGRAM_BOT_USERNAME, else the bot's own answer to getMe (asked once per process and token)."""
    if settings.TELEGRAM_BOT_USERNAME:
        return str(settings.TELEGRAM_BOT_USERNAME).lstrip("@")
    token = settings.TELEGRAM_BOT_TOKEN
    if not token:
        raise TelegramNotConfigured("TELEGRAM_BOT_TOKEN is not set.")
    if token not in _bot_username:
        try:
            response = httpx.get(f"{settings.TELEGRAM_API_BASE_URL}/bot{token}/getMe", timeout=10)
            _bot_username[token] = response.json()["result"]["username"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise TelegramNotConfigured(f"The Bot API did not tell the bot's username: {exc}") from None
    return _bot_username[token]


def telegram_link_create(*, customer: Customer) -> LinkOffer:
    username = bot_username()
    token = secrets.token_urlsafe(24)  # 32 characters of A-Z a-z 0-9 _ -, as deep links allow
    expires_at = timezone.now() + timedelta(seconds=settings.TELEGRAM_LINK_TTL)
    telegram_link_store(customer=customer, token_hash=_hash(token), expires_at=expires_at)
    return LinkOffer(url=f"https://t.me/{username}?start={token}", expires_at=expires_at)


def telegram_update_handle(update: dict[str, Any]) -> dict[str, Any] | None:
    """Act on one webhook update; returns the reply to send (a sendMessage call), or None."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    text = message.get("text")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int) or not isinstance(text, str):
        return None
    chat_id = chat["id"]
    command, _, argument = text.strip().partition(" ")
    command = command.split("@", 1)[0].lower()  # "/start@shop_bot" in groups
    if command == "/start":
        reply = _link(chat_id, argument.strip()) if argument.strip() else _resume(chat_id)
    elif command == "/stop":
        reply = _stop(chat_id)
    else:
        reply = "Send /stop to stop notifications here, /start to receive them again."
    return {"method": "sendMessage", "chat_id": chat_id, "text": reply}


def _link(chat_id: int, token: str) -> str:
    customer = telegram_link_use(token_hash=_hash(token), chat_id=str(chat_id))
    if customer is None:
        return "This link is no longer valid. Ask the shop for a new one."
    return f"Hello {customer.name}! Your order updates will arrive in this chat. Send /stop to end them."


def _stop(chat_id: int) -> str:
    if not telegram_chat_switch(chat_id=str(chat_id), on=False):
        return "This chat is not linked to a customer account."
    return "Done: no more notifications in this chat. Send /start to receive them again."


def _resume(chat_id: int) -> str:
    if not telegram_chat_switch(chat_id=str(chat_id), on=True):
        return "Open the link from the shop to connect this chat to your account."
    return "Welcome back: notifications will arrive in this chat again."
