"""The operator dashboard: counts per channel and status, queues, circuits, failures and their replay."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from apps.customers.models import Customer
from apps.notifications.circuits import breaker_for
from apps.notifications.dashboard import dashboard_context
from apps.notifications.models import Delivery, Notification

pytestmark = pytest.mark.django_db


def make_deliveries(**by_channel_status: int) -> list[Delivery]:
    """make_deliveries(email_sent=3, telegram_failed=1): rows created now."""
    customer = Customer.objects.create(name="Ada", email="ada@example.com", channels=["email"])
    notification = Notification.objects.create(customer=customer, event="custom", channels=["email"])
    made = []
    for key, n in by_channel_status.items():
        channel, status = key.split("_", 1)
        for _ in range(n):
            made.append(
                Delivery.objects.create(
                    notification=notification,
                    channel=channel,
                    address="ada@example.com",
                    status=status,
                    last_error="smtp_550: mailbox unavailable" if status == "failed" else "",
                    attempts=1,
                )
            )
    return made


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_counts_per_channel_and_status_in_the_last_day() -> None:
    make_deliveries(email_sent=3, email_failed=1, telegram_sent=2)
    old = make_deliveries(email_sent=5)
    Delivery.objects.filter(pk__in=[d.pk for d in old]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )

    context = dashboard_context(timezone.now())

    charts = {c["channel"]: c for c in context["charts"]}
    assert dict(charts["email"]["totals"]) == {"sent": 3, "failed": 1}
    assert dict(charts["telegram"]["totals"]) == {"sent": 2}
    assert context["peak"] == 4
    # The email bar of this hour: sent and failed stacked to the full height.
    assert sum(bar.height for bar in charts["email"]["bars"]) == pytest.approx(140, abs=1)
    assert [d.channel for d in context["failures"]] == ["email"]


def test_the_page_shows_circuits_and_failures_and_replays_them(staff: Client, settings: Any) -> None:
    [failed] = make_deliveries(email_failed=1)
    breaker = breaker_for("telegram")
    for _ in range(settings.CIRCUIT_FAILURE_THRESHOLD):
        breaker.record_failure()
    try:
        page = staff.get("/admin/dashboard/")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'class="circuit-open"' in html
        assert "smtp_550: mailbox unavailable" in html
        assert "<rect" in html

        response = staff.post("/admin/dashboard/", {"delivery": [str(failed.pk), "junk"]})
    finally:
        breaker.reset()

    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == "queued"
    assert failed.attempts == 0


def test_the_admin_home_links_to_the_dashboard(staff: Client) -> None:
    assert "/admin/dashboard/" in staff.get("/admin/").content.decode()


def test_only_staff_see_it_and_only_permitted_staff_replay(client: Client) -> None:
    assert client.get("/admin/dashboard/").status_code == 302  # to the login page
    [failed] = make_deliveries(email_failed=1)
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(viewer)

    assert client.get("/admin/dashboard/").status_code == 200
    assert client.post("/admin/dashboard/", {"delivery": [str(failed.pk)]}).status_code == 403
    failed.refresh_from_db()
    assert failed.status == "failed"
