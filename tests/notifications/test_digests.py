"""Digests with a real Celery worker and the SMTP sink: held messages go out as one message per window,
each held delivery `sent` with that message's id; one digest per window under concurrent sends; an
opt-out during the window sends nothing; clearing the preference lets later messages go one by one."""

import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.inbox.models import InboxItem
from apps.notifications.models import Delivery, DigestWindow, Notification
from tests.fakes.smtp import FakeSMTP, text_of
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]

SEND = "/api/v1/notifications/send/"
EMAIL = "digest@example.com"
CHAT = 5550777


def preferences(api: APIClient, customer_id: int, **body: Any) -> dict[str, Any]:
    response = api.put(f"/api/v1/customers/{customer_id}/preferences/", body, format="json")
    assert response.status_code == 200, response.json()
    return dict(response.json())


@pytest.fixture
def customer(api: APIClient, make_customer: Any) -> dict[str, Any]:
    made = dict(make_customer(name="Ada", email=EMAIL, channels=["email"]))
    preferences(api, made["id"], digest={"marketing": {"email": "every:5"}})
    return made


def send(api: APIClient, customer_id: int, subject: str, message: str) -> dict[str, Any]:
    body = {"customer": customer_id, "subject": subject, "message": message, "channels": ["email"]}
    response = api.post(SEND, body, format="json")
    assert response.status_code == 202, response.json()
    return dict(response.json())


def email_of(notification_id: int) -> Delivery:
    return Delivery.objects.get(notification_id=notification_id, channel="email")


def settled(ids: list[int]) -> bool:
    return not Delivery.objects.filter(notification_id__in=ids).pending().exists()


def test_held_messages_go_out_as_one_digest_and_each_is_sent_with_its_id(
    api: APIClient, customer: dict[str, Any], fake_smtp: FakeSMTP
) -> None:
    sent = [send(api, customer["id"], f"Offer {n}", f"Deal number {n}") for n in range(3)]

    [held] = sent[0]["deliveries"]
    assert held["status"] == "queued"
    assert held["next_attempt_at"] is not None  # the window's end
    assert wait_for(lambda: settled([n["id"] for n in sent]))
    [digest] = fake_smtp.to(EMAIL)
    text = text_of(digest)
    assert [text.index(f"Offer {n}: Deal number {n}") for n in range(3)] == sorted(
        text.index(f"Offer {n}: Deal number {n}") for n in range(3)
    )
    assert "Your 3 updates" in str(digest["Subject"])
    carrier = Delivery.objects.get(notification__event="digest")
    assert carrier.status == "sent"
    for notification in sent:
        delivery = email_of(notification["id"])
        assert delivery.status == "sent"
        assert delivery.provider_message_id == carrier.provider_message_id
        assert Notification.objects.get(pk=notification["id"]).status == "sent"
    assert list(DigestWindow.objects.values_list("status", flat=True)) == ["closed"]


def test_twenty_concurrent_sends_into_one_window_make_exactly_one_digest(
    api_key: str, customer: dict[str, Any], fake_smtp: FakeSMTP
) -> None:
    ids: list[int] = []
    start = threading.Barrier(20)

    def one(n: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
        try:
            start.wait()
            ids.append(send(client, customer["id"], f"Flash {n}", "now")["id"])
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(ids) == 20
    assert wait_for(lambda: settled(ids))
    assert DigestWindow.objects.count() == 1
    [digest] = fake_smtp.to(EMAIL)
    assert "Your 20 updates" in str(digest["Subject"])
    assert {email_of(i).status for i in ids} == {"sent"}


def test_opting_out_during_the_window_sends_nothing(
    api: APIClient, customer: dict[str, Any], fake_smtp: FakeSMTP
) -> None:
    sent = [send(api, customer["id"], "Sale", f"Item {n}") for n in range(2)]

    preferences(
        api,
        customer["id"],
        categories={"marketing": {"email": False}},
        digest={"marketing": {"email": "every:5"}},
    )

    assert wait_for(lambda: settled([n["id"] for n in sent]))
    assert {(email_of(n["id"]).status, email_of(n["id"]).skip_reason) for n in sent} == {
        ("skipped", "opted out")
    }
    assert fake_smtp.to(EMAIL) == []
    assert not Notification.objects.filter(event="digest").exists()


def test_clearing_the_digest_lets_held_messages_go_at_the_window_end_and_new_ones_at_once(
    api: APIClient, customer: dict[str, Any], fake_smtp: FakeSMTP
) -> None:
    held = send(api, customer["id"], "Held", "in the window")

    preferences(api, customer["id"])  # no `digest`: cleared
    alone = send(api, customer["id"], "Alone", "on its own")

    assert email_of(alone["id"]).digest_window_id is None
    assert wait_for(lambda: settled([held["id"], alone["id"]]))
    subjects = sorted(str(m["Subject"]) for m in fake_smtp.to(EMAIL))
    assert subjects == ["Alone", "Your 1 update"]
    assert email_of(held["id"]).status == "sent"


def test_a_held_message_cancelled_before_the_window_ends_is_left_out_of_the_digest(
    api: APIClient, customer: dict[str, Any], fake_smtp: FakeSMTP
) -> None:
    kept = send(api, customer["id"], "Kept", "stays")
    dropped = send(api, customer["id"], "Dropped", "goes")

    assert api.post(f"/api/v1/notifications/{dropped['id']}/cancel/").json()["status"] == "cancelled"

    assert wait_for(lambda: settled([kept["id"]]))
    [digest] = fake_smtp.to(EMAIL)
    assert "Kept: stays" in text_of(digest)
    assert "Dropped" not in text_of(digest)
    assert email_of(dropped["id"]).status == "cancelled"


def test_a_german_customer_gets_the_german_digest(
    api: APIClient, make_customer: Any, fake_smtp: FakeSMTP
) -> None:
    made = make_customer(name="Grete", email="grete@example.com", channels=["email"], language="de")
    preferences(api, made["id"], digest={"marketing": {"email": "every:5"}})

    sent = send(api, made["id"], "Angebot", "Heute billiger")

    assert wait_for(lambda: settled([sent["id"]]))
    [digest] = fake_smtp.to("grete@example.com")
    assert "Ihre 1 Neuigkeit" in str(digest["Subject"])
    assert "Angebot: Heute billiger" in text_of(digest)


def test_a_telegram_digest_is_one_message_to_the_chat(
    api: APIClient, make_customer: Any, fake_telegram: FakeTelegram
) -> None:
    made = make_customer(name="Tom", telegram_chat_id=CHAT, channels=["telegram"])
    preferences(api, made["id"], digest={"marketing": {"telegram": "every:5"}})

    sent = [
        api.post(
            SEND,
            {"customer": made["id"], "subject": f"S{n}", "message": f"<b>{n}</b>", "channels": ["telegram"]},
            format="json",
        ).json()
        for n in range(2)
    ]

    assert wait_for(lambda: settled([n["id"] for n in sent]))
    [text] = fake_telegram.texts(CHAT)
    assert "S0: &lt;b&gt;0&lt;/b&gt;" in text  # the held messages' text, escaped once for HTML mode
    assert "S1: &lt;b&gt;1&lt;/b&gt;" in text
    assert {Delivery.objects.get(notification_id=n["id"]).status for n in sent} == {"sent"}


def test_an_inbox_digest_is_one_item(api: APIClient, make_customer: Any) -> None:
    made = make_customer(name="Ada", email="", channels=["in_app"])
    preferences(api, made["id"], digest={"marketing": {"in_app": "every:5"}})
    body = {"customer": made["id"], "channels": ["in_app"]}
    sent = [
        api.post(SEND, {**body, "subject": f"Offer {n}", "message": f"Deal {n}"}, format="json").json()
        for n in range(2)
    ]
    assert wait_for(lambda: settled([n["id"] for n in sent]))
    items = list(InboxItem.objects.filter(customer_id=made["id"]))
    assert len(items) == 1
    assert items[0].subject == "Your 2 updates"
    assert "Offer 0: Deal 0" in items[0].body
    assert "Offer 1: Deal 1" in items[0].body
