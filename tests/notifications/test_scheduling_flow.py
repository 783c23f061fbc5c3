"""Scheduled sends and cancellation with a real Celery worker and the SMTP sink: a scheduled message
goes out once, not before its time, survives a worker killed in between, holds back no other message
to its recipient, and a cancellation racing the drain leaves each message either sent or cancelled."""

import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.api_gateway.models import ApiKey
from apps.customers.models import Customer
from apps.notifications.models import Delivery, Notification
from apps.notifications.planning import MessageSource, notification_create
from tests.fakes.processes import Process
from tests.fakes.smtp import FakeSMTP, text_of
from tests.fakes.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("integration")]

SEND = "/api/v1/notifications/send/"


def schedule(api: APIClient, customer_id: int, moment: datetime, **fields: Any) -> dict[str, Any]:
    body = {
        "customer": customer_id,
        "message": "Reminder",
        "channels": ["email"],
        "send_at": moment.isoformat(),
    }
    response = api.post(SEND, {**body, **fields}, format="json")
    assert response.status_code == 202, response.json()
    return dict(response.json())


def email_delivery(notification_id: int) -> Delivery:
    return Delivery.objects.get(notification_id=notification_id, channel="email")


def test_a_scheduled_send_goes_out_once_and_not_before_its_time(
    api: APIClient, make_customer: Any, fake_smtp: FakeSMTP
) -> None:
    customer = make_customer(email="later@example.com")
    moment = timezone.now() + timedelta(seconds=2)

    body = schedule(api, customer["id"], moment, message="Your appointment is at nine")

    assert body["status"] == "scheduled"
    assert wait_for(lambda: fake_smtp.to("later@example.com"))
    assert wait_for(lambda: Notification.objects.get(pk=body["id"]).status == "sent")
    delivery = email_delivery(body["id"])
    assert delivery.sent_at is not None
    assert delivery.sent_at >= moment
    assert len(fake_smtp.to("later@example.com")) == 1


def test_a_scheduled_message_holds_back_no_message_to_its_recipient_and_can_be_cancelled_before_its_time(
    api: APIClient, make_customer: Any, fake_smtp: FakeSMTP
) -> None:
    customer = make_customer(email="ada@example.com")
    scheduled = schedule(api, customer["id"], timezone.now() + timedelta(seconds=50), message="Tomorrow")

    api.post(SEND, {"customer": customer["id"], "message": "Now", "channels": ["email"]}, format="json")

    # Accepted after the scheduled one, it still goes first: the scheduled one is not due yet.
    assert wait_for(lambda: fake_smtp.to("ada@example.com"), timeout=20)
    assert [text_of(m).strip() for m in fake_smtp.to("ada@example.com")] == ["Now"]
    assert Notification.objects.get(pk=scheduled["id"]).status == "scheduled"
    cancelled = api.post(f"/api/v1/notifications/{scheduled['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert email_delivery(scheduled["id"]).status == "cancelled"


def test_a_scheduled_send_survives_a_worker_killed_before_its_time(
    api: APIClient, make_customer: Any, fake_smtp: FakeSMTP, integration: CeleryWorker
) -> None:
    customer = make_customer(email="kept@example.com")
    moment = timezone.now() + timedelta(seconds=2)
    body = schedule(api, customer["id"], moment)

    integration.kill()  # the timer wake it held goes with it; the restart also empties the broker
    while timezone.now() < moment + timedelta(seconds=1):
        time.sleep(0.2)
    integration.ensure_running()

    assert wait_for(lambda: Notification.objects.get(pk=body["id"]).status == "sent")
    assert len(fake_smtp.to("kept@example.com")) == 1


def test_a_cancellation_racing_the_drain_leaves_each_message_sent_or_cancelled_never_both(
    api: APIClient, fake_smtp: FakeSMTP
) -> None:
    count = 150  # three claims' worth: the drain holds one or two batches when the cancel comes
    customers = Customer.objects.bulk_create(
        Customer(name=f"C{n}", email=f"race{n}@example.com", channels=["email"]) for n in range(count)
    )
    fake_smtp.data_delay = 0.05  # a batch of 50 takes a second or more at the sink
    moment = timezone.now() + timedelta(seconds=2)
    with transaction.atomic():  # all of them committed at once, well before their time
        ids = [
            notification_create(
                customer=c,
                event="custom",
                source=MessageSource(message="Flash sale"),
                channels=["email"],
                api_key=ApiKey.objects.get(),  # the `api` client's
                send_at=moment,
                cancellation_key="flash-sale",
            ).pk
            for c in customers
        ]

    assert wait_for(lambda: fake_smtp.messages)  # the drain is sending: cancel now
    response = api.post("/api/v1/notifications/cancel/", {"cancellation_key": "flash-sale"}, format="json")
    assert wait_for(
        lambda: not Delivery.objects.pending().filter(notification_id__in=ids).exists(), timeout=60
    )

    statuses = dict(Delivery.objects.filter(notification_id__in=ids).values_list("address", "status"))
    sent = {address for address, status in statuses.items() if status == "sent"}
    cancelled = {address for address, status in statuses.items() if status == "cancelled"}
    arrived = [str(m["To"]) for m in fake_smtp.messages]
    assert sent | cancelled == set(statuses)
    assert response.json() == {"cancelled": len(cancelled)}
    assert cancelled  # the gate above: a batch was still at the sink when the cancel came
    assert sorted(arrived) == sorted(sent)  # each sent one arrived once, no cancelled one arrived
    notification_statuses = set(Notification.objects.filter(pk__in=ids).values_list("status", flat=True))
    assert notification_statuses <= {"sent", "cancelled"}


def test_a_scheduled_broadcast_waits_for_its_time(
    api: APIClient, make_customer: Any, fake_smtp: FakeSMTP
) -> None:
    ids = [make_customer(email=f"b{n}@example.com", channels=["email"])["id"] for n in range(2)]
    moment = timezone.now() + timedelta(seconds=2)

    response = api.post(
        "/api/v1/notifications/broadcast/",
        {"customers": ids, "message": "Doors open at noon", "send_at": moment.isoformat()},
        format="json",
    )

    assert response.status_code == 202
    assert wait_for(lambda: Notification.objects.filter(customer_id__in=ids, status="sent").count() == 2)
    deliveries = Delivery.objects.filter(notification__customer_id__in=ids, channel="email")
    assert all(d.sent_at is not None and d.sent_at >= moment and d.send_at == moment for d in deliveries)
    assert len(fake_smtp.to("b0@example.com")) == len(fake_smtp.to("b1@example.com")) == 1


def test_the_scheduler_wakes_a_scheduled_message_whose_wake_never_reached_the_broker(
    make_customer: Any, fake_smtp: FakeSMTP, integration: CeleryWorker, tmp_path: Path
) -> None:
    """A scheduled delivery written with no wake (as when the broker was down at its commit) goes out
    at its time because the scheduler's sweep leaves a timer wake for it; no beat, no send."""
    customer = Customer.objects.get(pk=make_customer(email="swept@example.com", channels=["email"])["id"])
    moment = timezone.now() + timedelta(seconds=4)
    notification = Notification.objects.create(
        customer=customer, event="custom", channels=["email"], status="scheduled", send_at=moment
    )
    Delivery.objects.create(
        notification=notification,
        channel="email",
        address="swept@example.com",
        subject="Swept",
        body="On time",
        body_plain="On time",
        next_attempt_at=moment,
        send_at=moment,
    )
    beat = Process(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
         "--schedule", str(tmp_path / "beat-schedule")],
        env={**integration.env, "NOTIFICATION_SWEEP_INTERVAL": "1"},
        log_path=tmp_path / "beat.log",
    ).start()  # fmt: skip
    try:
        assert wait_for(lambda: Notification.objects.get(pk=notification.pk).status == "sent")
    finally:
        beat.stop()
    [mail] = fake_smtp.to("swept@example.com")
    assert text_of(mail).strip() == "On time"
    sent_at = Delivery.objects.get(notification=notification).sent_at
    assert sent_at is not None
    assert sent_at >= moment
