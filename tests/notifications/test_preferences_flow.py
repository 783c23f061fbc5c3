"""Preferences end to end through the real worker: unsubscribe headers on every email, silent Telegram
messages during quiet hours, marketing held back until they end."""

import zoneinfo
from datetime import time
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.customers.preferences import unsubscribe_read
from apps.notifications.models import Delivery
from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]

CHAT = 5550777


def test_every_email_carries_a_one_click_unsubscribe_for_its_category(
    make_customer: Any, make_order: Any, fake_smtp: FakeSMTP
) -> None:
    customer = make_customer(email="grace@example.com")
    make_order(customer=customer["id"])

    assert wait_for(lambda: fake_smtp.to("grace@example.com"))
    [mail] = fake_smtp.to("grace@example.com")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = str(mail["List-Unsubscribe"]).strip()
    assert link.startswith("<http")
    assert link.endswith(">")
    token = link.strip("<>").rstrip("/").rsplit("/", 1)[1]
    found = unsubscribe_read(token)
    assert found is not None
    assert (found[0].pk, found[1], found[2]) == (customer["id"], "order_updates", "email")


def test_in_quiet_hours_order_updates_reach_telegram_silently_and_marketing_waits(
    api: APIClient, make_order: Any, fake_telegram: FakeTelegram
) -> None:
    zone = zoneinfo.ZoneInfo("Asia/Tokyo")
    hour = timezone.now().astimezone(zone).hour
    customer = Customer.objects.create(
        name="Ada",
        telegram_chat_id=str(CHAT),
        channels=["telegram"],
        time_zone="Asia/Tokyo",
        quiet_hours_start=time((hour - 1) % 24),
        quiet_hours_end=time((hour + 2) % 24),
    )
    promo = api.post(
        "/api/v1/notifications/send/", {"customer": customer.pk, "message": "Sale!"}, format="json"
    ).json()
    make_order(customer=customer.pk)

    assert wait_for(lambda: fake_telegram.texts(CHAT))
    [message] = [m for m in fake_telegram.messages if m["chat_id"] == str(CHAT)]
    assert message["silent"] is True
    assert "Sale!" not in message["text"]
    waiting = Delivery.objects.get(notification_id=promo["id"], channel="telegram")
    assert waiting.status == "queued"
    assert waiting.next_attempt_at == customer.quiet_hours_end_after(timezone.now())


def test_outside_quiet_hours_telegram_messages_make_a_sound(
    make_customer: Any, make_order: Any, fake_telegram: FakeTelegram
) -> None:
    customer = make_customer(telegram_chat_id=CHAT + 1)
    make_order(customer=customer["id"])

    assert wait_for(lambda: fake_telegram.texts(CHAT + 1))
    assert [m["silent"] for m in fake_telegram.messages if m["chat_id"] == str(CHAT + 1)] == [False]
