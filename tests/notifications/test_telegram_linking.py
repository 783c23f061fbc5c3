"""Telegram account linking through a deep link, and /stop, with the fake Bot API posting updates
to the webhook of a live server (as Telegram would) and executing the replies it gets back."""

from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.customers.models import Customer, TelegramLink
from apps.notifications.models import Delivery
from apps.notifications.planning import MessageSource, notification_create
from tests.conftest import error_of
from tests.fakes.telegram import TOKEN, FakeTelegram

SECRET = "s3cret_webhook-token"
CHAT = 777001


@pytest.fixture
def bot(settings: Any, fake_telegram: FakeTelegram, live_server: Any) -> FakeTelegram:
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_API_BASE_URL = fake_telegram.url
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET
    settings.TELEGRAM_BOT_USERNAME = ""
    settings.PUBLIC_BASE_URL = live_server.url
    fake_telegram.reset()
    call_command("telegram_webhook", stdout=StringIO())
    return fake_telegram


@pytest.fixture
def ada(transactional_db: None) -> Customer:
    return Customer.objects.create(name="Ada Lovelace", email="ada@example.com", channels=["email"])


def link_token(api: APIClient, customer: Customer) -> str:
    response = api.post(f"/api/v1/customers/{customer.pk}/telegram-link/")
    assert response.status_code == 201, response.json()
    url = urlparse(response.json()["url"])
    assert (url.scheme, url.netloc, url.path) == ("https", "t.me", "/fake_bot")  # username from getMe
    [token] = parse_qs(url.query)["start"]
    return token


def test_the_command_registers_the_webhook_with_its_secret(bot: FakeTelegram, live_server: Any) -> None:
    assert bot.webhook == {
        "url": f"{live_server.url}/telegram/webhook/",
        "secret_token": SECRET,
        "allowed_updates": ["message"],
    }


def test_start_with_the_token_links_the_chat_and_confirms(
    bot: FakeTelegram, api: APIClient, ada: Customer
) -> None:
    token = link_token(api, ada)
    assert 1 <= len(token) <= 64

    response = bot.push_update(chat_id=CHAT, text=f"/start {token}")

    assert response.status_code == 200
    ada.refresh_from_db()
    assert ada.telegram_chat_id == str(CHAT)
    assert ada.channels == ["email", "telegram"]
    [reply] = bot.texts(CHAT)
    assert "Ada Lovelace" in reply
    # The new chat gets the next order update.
    notification = notification_create(
        customer=ada, event="custom", source=MessageSource(message="Shipped"), category="order_updates"
    )
    assert Delivery.objects.get(notification=notification, channel="telegram").status == "queued"


def test_a_token_works_once(bot: FakeTelegram, api: APIClient, ada: Customer) -> None:
    token = link_token(api, ada)
    bot.push_update(chat_id=CHAT, text=f"/start {token}")

    bot.push_update(chat_id=CHAT + 1, text=f"/start {token}")

    ada.refresh_from_db()
    assert ada.telegram_chat_id == str(CHAT)
    assert "no longer valid" in bot.texts(CHAT + 1)[0]


def test_an_expired_or_unknown_token_links_nothing(bot: FakeTelegram, api: APIClient, ada: Customer) -> None:
    token = link_token(api, ada)
    TelegramLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    bot.push_update(chat_id=CHAT, text=f"/start {token}")
    bot.push_update(chat_id=CHAT, text="/start madeUpToken")

    ada.refresh_from_db()
    assert ada.telegram_chat_id == ""
    assert all("no longer valid" in text for text in bot.texts(CHAT))
    assert len(bot.texts(CHAT)) == 2


def test_stop_opts_out_of_telegram_and_start_opts_back_in(
    bot: FakeTelegram, api: APIClient, ada: Customer
) -> None:
    bot.push_update(chat_id=CHAT, text=f"/start {link_token(api, ada)}")

    bot.push_update(chat_id=CHAT, text="/stop")

    ada.refresh_from_db()
    assert not ada.accepts("order_updates", "telegram")
    assert not ada.accepts("marketing", "telegram")
    assert ada.accepts("order_updates", "email")
    assert "no more notifications" in bot.texts(CHAT)[-1]
    notification = notification_create(
        customer=ada, event="custom", source=MessageSource(message="Shipped"), category="order_updates"
    )
    assert Delivery.objects.get(notification=notification, channel="telegram").skip_reason == "opted out"

    bot.push_update(chat_id=CHAT, text="/start")

    ada.refresh_from_db()
    assert ada.accepts("order_updates", "telegram")


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_updates_without_the_right_secret_are_refused(
    bot: FakeTelegram, api: APIClient, ada: Customer, secret: str
) -> None:
    token = link_token(api, ada)
    if secret:
        response = bot.push_update(chat_id=CHAT, text=f"/start {token}", secret=secret)
    else:
        update = {"update_id": 1, "message": {"chat": {"id": CHAT}, "text": f"/start {token}"}}
        response = httpx.post(bot.webhook["url"], json=update)

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    ada.refresh_from_db()
    assert ada.telegram_chat_id == ""
    assert bot.texts(CHAT) == []


def test_the_webhook_refuses_everything_when_no_secret_is_configured(
    bot: FakeTelegram, settings: Any, api: APIClient, ada: Customer
) -> None:
    token = link_token(api, ada)
    settings.TELEGRAM_WEBHOOK_SECRET = ""

    assert bot.push_update(chat_id=CHAT, text=f"/start {token}", secret="").status_code == 403
    assert bot.push_update(chat_id=CHAT, text=f"/start {token}", secret=SECRET).status_code == 403


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"message": {"chat": "x", "text": 5}}'])
def test_malformed_updates_get_4xx_or_are_ignored_never_500(bot: FakeTelegram, body: bytes) -> None:
    response = httpx.post(
        bot.webhook["url"],
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json() == {}


def test_deeply_nested_json_is_a_400_not_a_500(bot: FakeTelegram) -> None:
    body = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    response = httpx.post(
        bot.webhook["url"],
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_an_update_seen_before_is_answered_and_not_acted_on(
    bot: FakeTelegram, api: APIClient, ada: Customer
) -> None:
    bot.push_update(chat_id=CHAT, text=f"/start {link_token(api, ada)}")
    stop = bot.push_update(chat_id=CHAT, text="/stop")
    bot.push_update(chat_id=CHAT, text="/start")
    stop_id = bot.updates_pushed[-2]

    replayed = bot.push_update(chat_id=CHAT, text="/stop", update_id=stop_id)

    assert (stop.status_code, replayed.status_code) == (200, 200)
    assert replayed.json() == {}
    ada.refresh_from_db()
    assert ada.accepts("order_updates", "telegram")


def test_link_needs_a_configured_bot(api: APIClient, settings: Any, db: None) -> None:
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_BOT_USERNAME = ""
    customer = Customer.objects.create(name="Ada", email="ada@example.com", channels=["email"])

    response = api.post(f"/api/v1/customers/{customer.pk}/telegram-link/")

    assert response.status_code == 409
    assert "not configured" in error_of(response)["message"]
    assert api.post("/api/v1/customers/999999/telegram-link/").status_code == 404


def test_the_command_explains_a_missing_secret(settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = TOKEN
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    with pytest.raises(CommandError, match="TELEGRAM_WEBHOOK_SECRET"):
        call_command("telegram_webhook", stdout=StringIO())
