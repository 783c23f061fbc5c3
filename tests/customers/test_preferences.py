"""Preferences per category and channel, quiet hours in the customer's time zone, and the signed
one-click unsubscribe link (the page itself is clicked through in tests/browser/)."""

import time as clock
import zoneinfo
from datetime import UTC, datetime, time
from typing import Any

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.customers.preferences import unsubscribe_token, unsubscribe_url
from apps.notifications.models import Delivery, Notification
from apps.notifications.outbox.claim import deliveries_claim
from apps.notifications.planning import MessageSource, notification_create, notification_for_order
from tests.conftest import error_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _telegram_configured(settings: Any) -> None:
    settings.TELEGRAM_BOT_TOKEN = "123:test"


@pytest.fixture
def ada() -> Customer:
    return Customer.objects.create(
        name="Ada", email="ada@example.com", telegram_chat_id="42", channels=["telegram", "email"]
    )


def prefs_url(customer: Customer | dict[str, Any]) -> str:
    pk = customer.pk if isinstance(customer, Customer) else customer["id"]
    return f"/api/v1/customers/{pk}/preferences/"


def test_preferences_default_to_every_channel_on_in_every_category(api: APIClient, ada: Customer) -> None:
    body = api.get(prefs_url(ada)).json()

    assert body == {
        "time_zone": "UTC",
        "quiet_hours": None,
        "categories": {
            "order_updates": {"telegram": True, "email": True, "in_app": True},
            "marketing": {"telegram": True, "email": True, "in_app": True},
        },
        "digest": {},
    }


def test_put_replaces_preferences_and_get_returns_them(api: APIClient, ada: Customer) -> None:
    wanted = {
        "time_zone": "Europe/Berlin",
        "quiet_hours": {"start": "22:00", "end": "07:30"},
        "categories": {"marketing": {"telegram": False}},
    }
    response = api.put(prefs_url(ada), wanted, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["categories"]["marketing"] == {"telegram": False, "email": True, "in_app": True}
    assert api.get(prefs_url(ada)).json() == response.json()
    ada.refresh_from_db()
    assert (ada.quiet_hours_start, ada.quiet_hours_end) == (time(22, 0), time(7, 30))

    # PUT replaces: what is not named is back to its default.
    api.put(prefs_url(ada), {"categories": {}}, format="json")
    assert api.get(prefs_url(ada)).json()["quiet_hours"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "07:00", "end": "07:00"}}, "quiet_hours"),
        ({"categories": {"newsletters": {"email": False}}}, "categories"),
        ({"categories": {"marketing": {"pigeon": False}}}, "categories"),
        ({"categories": {"marketing": {"email": "no"}}}, "categories"),
        ({"categories": ["marketing"]}, "categories"),
        ({"time_zone": 5}, "time_zone"),
    ],
)
def test_bad_preferences_are_refused_with_the_field_named(
    api: APIClient, ada: Customer, body: dict[str, Any], field: str
) -> None:
    response = api.put(prefs_url(ada), body, format="json")

    assert response.status_code == 400
    assert field in error_of(response)["details"]
    ada.refresh_from_db()
    assert ada.preferences == {}
    assert ada.time_zone == "UTC"


def test_preferences_of_an_unknown_customer_are_404(api: APIClient) -> None:
    assert api.get("/api/v1/customers/999999/preferences/").status_code == 404


def test_a_channel_switched_off_for_a_category_is_skipped_only_there(api: APIClient, ada: Customer) -> None:
    api.put(prefs_url(ada), {"categories": {"marketing": {"telegram": False}}}, format="json")
    ada.refresh_from_db()

    promo = notification_create(customer=ada, event="custom", source=MessageSource(message="Sale!"))
    update = notification_create(
        customer=ada, event="custom", source=MessageSource(message="Ready"), category="order_updates"
    )

    promo_deliveries = {d.channel: (d.status, d.skip_reason) for d in promo.deliveries.all()}
    assert promo_deliveries == {"telegram": ("skipped", "opted out"), "email": ("queued", "")}
    assert {d.channel: d.status for d in update.deliveries.all()} == {"telegram": "queued", "email": "queued"}


def test_send_api_takes_a_category(api: APIClient, ada: Customer) -> None:
    api.put(prefs_url(ada), {"categories": {"order_updates": {"email": False}}}, format="json")
    response = api.post(
        "/api/v1/notifications/send/",
        {"customer": ada.pk, "message": "Your parcel is at the door", "category": "order_updates"},
        format="json",
    )

    assert response.status_code == 202, response.json()
    assert response.json()["category"] == "order_updates"
    email = Delivery.objects.get(notification_id=response.json()["id"], channel="email")
    assert email.skip_reason == "opted out"
    bad = api.post(
        "/api/v1/notifications/send/", {"customer": ada.pk, "message": "x", "category": "spam"}, format="json"
    )
    assert bad.status_code == 400


# --- quiet hours -----------------------------------------------------------------------------


def berlin_night_owl(**fields: Any) -> Customer:
    return Customer.objects.create(
        name="Ada",
        email="ada@example.com",
        telegram_chat_id="42",
        channels=["telegram", "email"],
        time_zone="Europe/Berlin",
        quiet_hours_start=time(22, 0),
        quiet_hours_end=time(7, 0),
        **fields,
    )


@pytest.mark.parametrize(
    ("utc", "expected_end_utc"),
    [
        (datetime(2026, 1, 15, 22, 30, tzinfo=UTC), datetime(2026, 1, 16, 6, 0, tzinfo=UTC)),  # 23:30 CET
        (datetime(2026, 1, 16, 3, 0, tzinfo=UTC), datetime(2026, 1, 16, 6, 0, tzinfo=UTC)),  # 04:00 CET
        (datetime(2026, 7, 15, 21, 30, tzinfo=UTC), datetime(2026, 7, 16, 5, 0, tzinfo=UTC)),  # 23:30 CEST
        (datetime(2026, 1, 15, 12, 0, tzinfo=UTC), None),  # 13:00: not quiet
        (datetime(2026, 1, 16, 6, 0, tzinfo=UTC), None),  # 07:00 sharp: over
        # The night the clocks go forward (29 March 2026, 02:00 -> 03:00): 7:00 CEST is 05:00 UTC.
        (datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_follow_the_customer_clock_across_midnight_and_dst(
    utc: datetime, expected_end_utc: datetime | None
) -> None:
    customer = Customer(time_zone="Europe/Berlin", quiet_hours_start=time(22), quiet_hours_end=time(7))

    assert customer.quiet_hours_end_after(utc) == expected_end_utc


@pytest.mark.parametrize(
    ("start", "end", "utc", "expected_end_utc"),
    [
        # 25 October 2026, Berlin: 03:00 CEST -> 02:00 CET, the hour from 02:00 comes twice.
        (22, 7, datetime(2026, 10, 24, 20, 30, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)),
        # An end inside the repeated hour, first time through: 02:30 CEST.
        (22, (2, 30), datetime(2026, 10, 24, 22, 30, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # The same end, seen from 02:15 CET (the second 02:15): 02:30 CET, not the 02:30 that passed.
        (22, (2, 30), datetime(2026, 10, 25, 1, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        # A start inside the repeated hour: quiet from the first 02:30 on.
        ((2, 30), 6, datetime(2026, 10, 25, 0, 45, tzinfo=UTC), datetime(2026, 10, 25, 5, 0, tzinfo=UTC)),
        # 29 March 2026: 02:00 CET -> 03:00 CEST. An end the clock skips ends when the clock jumps.
        (22, (2, 30), datetime(2026, 3, 28, 23, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # A start the clock skips: quiet from the jump on (03:10 CEST is past 02:30).
        ((2, 30), 6, datetime(2026, 3, 29, 1, 10, tzinfo=UTC), datetime(2026, 3, 29, 4, 0, tzinfo=UTC)),
        ((2, 30), 6, datetime(2026, 3, 29, 0, 59, tzinfo=UTC), None),  # 01:59 CET: not yet
    ],
)
def test_quiet_hours_through_the_nights_the_clocks_change(
    start: Any, end: Any, utc: datetime, expected_end_utc: datetime | None
) -> None:
    as_time = lambda value: time(*value) if isinstance(value, tuple) else time(value)  # noqa: E731
    customer = Customer(
        time_zone="Europe/Berlin", quiet_hours_start=as_time(start), quiet_hours_end=as_time(end)
    )

    ends = customer.quiet_hours_end_after(utc)

    assert ends == expected_end_utc
    assert ends is None or ends > utc


def test_quiet_hours_within_one_day() -> None:
    customer = Customer(time_zone="UTC", quiet_hours_start=time(13), quiet_hours_end=time(14))

    assert customer.quiet_hours_end_after(datetime(2026, 1, 1, 13, 30, tzinfo=UTC)) == datetime(
        2026, 1, 1, 14, 0, tzinfo=UTC
    )
    assert customer.quiet_hours_end_after(datetime(2026, 1, 1, 12, 59, tzinfo=UTC)) is None


def quiet_now(customer: Customer) -> None:
    """Put `customer`'s quiet hours around the present moment, whatever the clock says."""
    local = timezone.now().astimezone(zoneinfo.ZoneInfo(customer.time_zone))
    customer.quiet_hours_start = time((local.hour - 1) % 24)
    customer.quiet_hours_end = time((local.hour + 2) % 24)
    customer.save()


def test_marketing_in_quiet_hours_is_scheduled_for_their_end_not_enqueued() -> None:
    ada = berlin_night_owl()
    quiet_now(ada)
    end = ada.quiet_hours_end_after(timezone.now())
    assert end is not None

    promo = notification_create(customer=ada, event="custom", source=MessageSource(message="Sale!"))

    for delivery in promo.deliveries.all():
        assert delivery.status == "queued"
        assert delivery.next_attempt_at == end
    assert not deliveries_claim(channel="email", limit=10)  # not due: nobody may send it yet


def test_order_updates_in_quiet_hours_go_at_once() -> None:
    ada = berlin_night_owl()
    quiet_now(ada)

    notification = notification_for_order(
        customer=ada,
        order_id=1,
        template_key="order_created",
        status="pending",
        context={},
        event="order_created",
    )

    assert notification is not None
    assert notification.category == "order_updates"
    now = timezone.now()
    for delivery in Delivery.objects.filter(notification=notification):
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at <= now
    assert deliveries_claim(channel="email", limit=10)  # due now: a drain takes it


# --- unsubscribe -----------------------------------------------------------------------------


def test_one_click_post_unsubscribes_from_that_category_and_channel_only(ada: Customer) -> None:
    client = Client()
    url = unsubscribe_url(customer_id=ada.pk, category="marketing")
    path = url.split("://", 1)[1].split("/", 1)[1]

    page = client.get(f"/{path}")
    assert page.status_code == 200
    ada.refresh_from_db()
    assert ada.accepts("marketing", "email")  # a GET (a link scanner) changes nothing

    response = client.post(f"/{path}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    ada.refresh_from_db()
    assert not ada.accepts("marketing", "email")
    assert ada.accepts("order_updates", "email")
    assert ada.accepts("marketing", "telegram")
    # Idempotent: a second click (or the client retrying) is fine.
    assert client.post(f"/{path}", {"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.mark.parametrize("tamper", ["swap", "truncate", "garbage"])
def test_forged_or_damaged_unsubscribe_tokens_are_refused(ada: Customer, tamper: str) -> None:
    other = Customer.objects.create(name="Bob", email="bob@example.com", channels=["email"])
    token = unsubscribe_token(customer_id=ada.pk, category="marketing")
    forged = {
        "swap": token.replace(str(ada.pk), str(other.pk), 1) if str(ada.pk) in token else token[:-2] + "xx",
        "truncate": token[:-5],
        "garbage": "not-a-token",
    }[tamper]

    response = Client().post(f"/unsubscribe/{forged}/", {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 400
    for customer in (ada, other):
        customer.refresh_from_db()
        assert customer.preferences == {}


def test_an_unsubscribe_link_expires_and_the_page_is_never_cached(
    ada: Customer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = unsubscribe_token(customer_id=ada.pk, category="marketing")
    made_at = clock.time() - 401 * 86400  # a link from an email of 401 days ago
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(int(made_at)))
    old = unsubscribe_token(customer_id=ada.pk, category="marketing")
    monkeypatch.undo()

    expired = Client().post(f"/unsubscribe/{old}/", {"List-Unsubscribe": "One-Click"})
    page = Client().get(f"/unsubscribe/{fresh}/")

    assert expired.status_code == 400
    ada.refresh_from_db()
    assert ada.accepts("marketing", "email")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert page["Referrer-Policy"] == "no-referrer"


def test_unsubscribed_marketing_email_is_skipped_afterwards(ada: Customer) -> None:
    path = "/" + unsubscribe_url(customer_id=ada.pk, category="marketing").split("/", 3)[3]
    Client().post(path, {"List-Unsubscribe": "One-Click"})
    ada.refresh_from_db()

    promo = notification_create(customer=ada, event="custom", source=MessageSource(message="Sale!"))

    assert Delivery.objects.get(notification=promo, channel="email").skip_reason == "opted out"
    assert Notification.objects.get(pk=promo.pk).status == "queued"  # telegram still goes
