"""End to end: order events and API sends delivered by a real Celery worker (real PostgreSQL and Redis)
to the fake Telegram Bot API and a real SMTP server, counting what arrived."""

from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.notifications.models import Delivery, Notification
from apps.orders.models import OrderEvent
from tests.fakes.smtp import FakeSMTP, html_of, text_of
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]

CHAT = 5550001
EMAIL = "ada@example.com"


def settled(notification_id: int | None = None) -> bool:
    """No order event is waiting to be planned, and no notification (or not this one) is still
    waiting for a delivery."""
    queryset = Notification.objects.filter(status="queued")
    if notification_id is not None:
        queryset = queryset.filter(pk=notification_id)
    return Notification.objects.exists() and not queryset.exists() and not OrderEvent.objects.exists()


@pytest.fixture
def customer(make_customer: Any) -> dict[str, Any]:
    return dict(make_customer(name="Ada Lovelace", email=EMAIL, telegram_chat_id=CHAT))


def test_order_created_sends_one_message_per_channel(
    api: APIClient,
    customer: dict[str, Any],
    make_order: Any,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
) -> None:
    order = make_order(customer=customer["id"])

    assert wait_for(lambda: fake_telegram.texts(CHAT) and fake_smtp.to(EMAIL))
    assert wait_for(settled)
    [telegram] = fake_telegram.texts(CHAT)
    [mail] = fake_smtp.to(EMAIL)
    assert "Ada Lovelace" in telegram
    assert order["number"] in telegram
    assert order["number"] in str(mail["Subject"])
    assert "Ada Lovelace" in text_of(mail)
    assert "Ada Lovelace" in html_of(mail)
    detail = api.get(f"/api/v1/orders/{order['id']}/").json()
    [notification] = detail["notifications"]
    assert notification["status"] == "sent"
    assert {d["channel"]: d["status"] for d in notification["deliveries"]} == {
        "telegram": "sent",
        "email": "sent",
    }


def test_each_status_change_sends_exactly_one_more_per_channel(
    api: APIClient,
    customer: dict[str, Any],
    make_order: Any,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
) -> None:
    order = make_order(customer=customer["id"])
    for status in ("confirmed", "processing", "shipped", "shipped"):  # the last one: a retried PUT
        assert wait_for(settled)  # one change at a time: a newer status would supersede a waiting one
        api.put(f"/api/v1/orders/{order['id']}/status/", {"status": status}, format="json")

    assert wait_for(lambda: Notification.objects.count() == 4 and settled(), timeout=60)
    assert len(fake_telegram.texts(CHAT)) == 4
    assert len(fake_smtp.to(EMAIL)) == 4
    subjects = [str(m["Subject"]) for m in fake_smtp.to(EMAIL)]
    assert sorted(subjects) == sorted(
        [
            f"We received your order {order['number']}",
            f"Order {order['number']} is confirmed",
            f"We are packing order {order['number']}",
            f"Order {order['number']} is on its way",
        ]
    )


def test_idempotent_replay_sends_nothing_new(
    api: APIClient, customer: dict[str, Any], fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    body = {
        "customer": customer["id"],
        "subject": "Hi",
        "message": "Hello {{ customer.name }}",
        "channels": ["email"],
    }

    first = api.post("/api/v1/notifications/send/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert wait_for(lambda: settled(first.json()["id"]))
    again = api.post("/api/v1/notifications/send/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    other = api.post(
        "/api/v1/notifications/send/",
        {**body, "message": "Other"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="abc-1",
    )

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Notification.objects.filter(event="custom").count() == 1
    assert [text_of(m).strip() for m in fake_smtp.to(EMAIL)] == ["Hello Ada Lovelace"]
    assert fake_telegram.texts(CHAT) == []


def test_failover_goes_to_email_when_telegram_fails_permanently(
    api: APIClient, customer: dict[str, Any], fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    fake_telegram.fail(403, "Forbidden: bot was blocked by the user", chat_id=CHAT, times=10)
    body = {"customer": customer["id"], "message": "Your parcel is here", "strategy": "failover"}

    sent = api.post("/api/v1/notifications/send/", body, format="json")

    assert wait_for(lambda: settled(sent.json()["id"]))
    status = api.get(f"/api/v1/notifications/status/{sent.json()['id']}/").json()
    deliveries = {d["channel"]: d for d in status["deliveries"]}
    assert status["status"] == "sent"
    assert deliveries["telegram"]["status"] == "failed"
    assert deliveries["telegram"]["attempts"] == 1
    assert "bot was blocked" in deliveries["telegram"]["last_error"]
    assert deliveries["email"]["status"] == "sent"
    assert len(fake_smtp.to(EMAIL)) == 1
    assert fake_telegram.texts(CHAT) == []


@pytest.mark.parametrize(
    "name", ["{{ settings.SECRET_KEY }}", "{% debug %}", "{% load static %}{{ request }}"]
)
def test_template_syntax_in_a_customer_name_is_rendered_literally(
    make_customer: Any, make_order: Any, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP, name: str
) -> None:
    customer = make_customer(name=name, email=EMAIL, telegram_chat_id=CHAT)

    make_order(customer=customer["id"])

    assert wait_for(lambda: fake_telegram.texts(CHAT) and fake_smtp.to(EMAIL))
    [mail] = fake_smtp.to(EMAIL)
    text = text_of(mail)
    assert name in text
    assert settings.SECRET_KEY not in text
    assert settings.SECRET_KEY not in fake_telegram.texts(CHAT)[0]


def test_script_in_a_name_is_escaped_in_html_and_telegram(
    make_customer: Any, make_order: Any, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    customer = make_customer(name="<script>alert(1)</script> & Co", email=EMAIL, telegram_chat_id=CHAT)

    make_order(customer=customer["id"])

    assert wait_for(lambda: fake_telegram.messages and fake_smtp.to(EMAIL))
    [message] = fake_telegram.messages
    assert message["parse_mode"] == "HTML"
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in message["text"]
    html = html_of(fake_smtp.to(EMAIL)[0])
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_long_message_is_split_for_telegram(
    api: APIClient, customer: dict[str, Any], fake_telegram: FakeTelegram
) -> None:
    words = [f"word{i:04d}" for i in range(556)]  # 5,000 characters with the spaces
    text = " ".join(words)
    assert len(text) >= 5000

    sent = api.post(
        "/api/v1/notifications/send/",
        {"customer": customer["id"], "message": text, "channels": ["telegram"]},
        format="json",
    )

    assert wait_for(lambda: settled(sent.json()["id"]), timeout=30)
    parts = fake_telegram.texts(CHAT)
    assert len(parts) == 2
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts).split() == words
    delivery = Delivery.objects.get(notification_id=sent.json()["id"])
    assert delivery.status == "sent"
    assert delivery.provider_message_id.count(",") == 1


def test_german_customer_gets_the_german_template(
    make_customer: Any, make_order: Any, fake_telegram: FakeTelegram, fake_smtp: FakeSMTP
) -> None:
    customer = make_customer(name="Emmy Noether", email=EMAIL, telegram_chat_id=CHAT, language="de")

    order = make_order(customer=customer["id"])

    assert wait_for(lambda: fake_telegram.texts(CHAT) and fake_smtp.to(EMAIL))
    assert str(fake_smtp.to(EMAIL)[0]["Subject"]) == f"Wir haben Ihre Bestellung {order['number']} erhalten"
    assert fake_telegram.texts(CHAT)[0].startswith("Hallo Emmy Noether")


def test_two_concurrent_sends_with_one_idempotency_key_make_one_notification(
    api: APIClient, customer: dict[str, Any], fake_smtp: FakeSMTP
) -> None:
    """Both requests find no notification under the key, then both insert: PostgreSQL's unique index
    lets one win and the other answers with the winner's notification (the IntegrityError branch).

    The gate is a lock on the notification table held by a third connection: reads pass it, inserts
    wait, so both requests are past their look-up before either inserts, on any machine's timing."""
    import threading

    from django.db import connection, connections

    table = Notification._meta.db_table
    body = {"customer": customer["id"], "subject": "Hi", "message": "Once", "channels": ["email"]}
    answers: list[Any] = []

    def send() -> None:
        try:
            answers.append(
                api.post("/api/v1/notifications/send/", body, format="json", HTTP_IDEMPOTENCY_KEY="race-1")
            )
        finally:
            connections.close_all()

    gate = connections.create_connection("default")
    try:
        gate.set_autocommit(False)
        with gate.cursor() as cursor:
            cursor.execute(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE')
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()

        def both_wait_to_insert() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [table]
                )
                return bool(cursor.fetchone()[0] == 2)

        assert wait_for(both_wait_to_insert)
    finally:
        gate.rollback()  # the gate opens: one insert wins, the other meets the unique index
        gate.close()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(a.status_code for a in answers) == [200, 202]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert Notification.objects.filter(event="custom").count() == 1
    assert wait_for(lambda: settled(answers[0].json()["id"]))
    assert [text_of(m).strip() for m in fake_smtp.to(EMAIL)] == ["Once"]


@pytest.mark.parametrize("key", ["x" * 256, "tab\there", "caf\u00e9"])
def test_a_malformed_idempotency_key_is_400_and_sends_nothing(
    api: APIClient, customer: dict[str, Any], key: str
) -> None:
    body = {"customer": customer["id"], "message": "Hi", "channels": ["email"]}

    response = api.post("/api/v1/notifications/send/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["Idempotency-Key"]
    assert not Notification.objects.exists()
