"""Broadcasts: one message to many customers in chunks, through the service, the command and the API."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.notifications.broadcast import broadcast_send
from apps.notifications.models import Delivery, Notification
from apps.notifications.planning import MessageSource
from tests.fakes.smtp import FakeSMTP, text_of
from tests.fakes.worker import wait_for


def customers(count: int) -> list[Customer]:
    return Customer.objects.bulk_create(
        Customer(name=f"C{i}", email=f"c{i}@example.com", channels=[] if i % 10 == 0 else ["email"])
        for i in range(count)
    )


@pytest.mark.django_db
def test_broadcast_writes_every_customer_in_chunks_with_bounded_queries(
    django_assert_max_num_queries: Any,
) -> None:
    customers(50)

    with django_assert_max_num_queries(3 * 10 + 2):  # a constant handful per chunk of 20, not per customer
        result = broadcast_send(source=MessageSource(message="Sale: {{ customer.name }}"), chunk_size=20)

    assert result.customers == 50
    assert result.notifications == 50
    assert result.deliveries["queued"] == 45  # email for everyone who accepts it
    assert result.deliveries["opted out"] == 5
    assert Notification.objects.filter(status="suppressed").count() == 5
    assert Delivery.objects.get(notification__customer__name="C1", channel="email").body == "Sale: C1"


@pytest.mark.django_db
def test_the_same_broadcast_twice_is_skipped_as_duplicate() -> None:
    customers(12)
    broadcast_send(source=MessageSource(message="Hello"), channels=["email"])

    again = broadcast_send(source=MessageSource(message="Hello"), channels=["email"])

    assert again.deliveries["duplicate"] == 10
    assert "queued" not in again.deliveries


@pytest.mark.django_db
def test_broadcast_command_shows_progress() -> None:
    customers(30)
    out = StringIO()

    call_command("broadcast", "--message", "Hi {{ customer.name }}", "--chunk-size", "10", stdout=out)

    assert "30/30" in out.getvalue()
    assert "Broadcast to 30 customers" in out.getvalue()
    assert Notification.objects.count() == 30


@pytest.mark.django_db
def test_broadcast_api_validates(api: APIClient) -> None:
    response = api.post("/api/v1/notifications/broadcast/", {"message": "{% debug %}"}, format="json")
    assert response.status_code == 400
    assert "message" in response.json()["error"]["details"]


@pytest.mark.usefixtures("integration")
def test_broadcast_through_the_api_reaches_everyone(api: APIClient, fake_smtp: FakeSMTP) -> None:
    customers(20)

    response = api.post(
        "/api/v1/notifications/broadcast/",
        {"subject": "News", "message": "Hi {{ customer.name }}"},
        format="json",
    )

    assert response.status_code == 202
    assert wait_for(lambda: len(fake_smtp.messages) >= 18, timeout=60)
    assert sorted(text_of(m).strip() for m in fake_smtp.messages) == sorted(
        f"Hi C{i}" for i in range(20) if i % 10 != 0
    )
