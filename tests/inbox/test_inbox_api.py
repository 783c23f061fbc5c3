"""The in-app inbox through its APIs (DESIGN 15): the channel stores what the outbox drains, the shop's
backend reads and marks with its API key, the browser with an inbox token. Drained in this process."""

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.api_gateway.services import api_key_create
from apps.inbox.models import InboxEvent, InboxItem
from apps.inbox.services import InboxMessage, inbox_store
from apps.inbox.tokens import token_issue
from apps.notifications.models import Delivery
from apps.notifications.outbox.pump import outbox_drain
from tests.conftest import error_of

pytestmark = pytest.mark.django_db
SEND = "/api/v1/notifications/send/"


def inbox_customer(make_customer: Any, **fields: Any) -> dict[str, Any]:
    return dict(make_customer(**{"email": "", "channels": ["in_app"], **fields}))


def send(
    api: APIClient, customer: dict[str, Any], message: str = "Hi {{ customer.name }}", **extra: Any
) -> int:
    body = {"customer": customer["id"], "message": message, "subject": "News", **extra}
    response = api.post(SEND, body, format="json")
    assert response.status_code == 202, response.json()
    return int(response.json()["id"])


def inbox_url(customer: dict[str, Any], tail: str = "") -> str:
    return f"/api/v1/customers/{customer['id']}/inbox/{tail}"


def browser(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_customer_with_only_the_inbox_needs_no_contact_point(api: APIClient, make_customer: Any) -> None:
    assert inbox_customer(make_customer)["channels"] == ["in_app"]
    response = api.post("/api/v1/customers/", {"name": "Nobody", "channels": ["email"]}, format="json")
    assert response.status_code == 400
    assert api.post("/api/v1/customers/", {"name": "Nobody"}, format="json").status_code == 400


def test_a_send_is_stored_in_the_inbox_and_the_delivery_reads_sent(
    api: APIClient, make_customer: Any
) -> None:
    customer = inbox_customer(make_customer, name="Grace")
    notification = send(api, customer)
    outbox_drain(channel="in_app")
    delivery = Delivery.objects.get(notification_id=notification, channel="in_app")
    assert delivery.status == "sent"
    page = api.get(inbox_url(customer)).json()
    assert [(i["subject"], i["body"], i["notification"]) for i in page["results"]] == [
        ("News", "Hi Grace", notification)
    ]
    assert delivery.provider_message_id == f"inbox:{page['results'][0]['id']}"
    kinds = list(InboxEvent.objects.filter(customer_id=customer["id"]).values_list("kind", "data"))
    assert kinds[0][0] == "notification"
    assert kinds[0][1]["id"] == page["results"][0]["id"]
    assert kinds[1] == ("counts", {"unseen": 1, "unread": 1})


def test_customers_without_the_inbox_get_no_inbox_delivery(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(channels=["email"])
    notification = send(api, customer)
    channels = Delivery.objects.filter(notification_id=notification).values_list("channel", flat=True)
    assert "in_app" not in set(channels)
    assert "email" in set(channels)


def test_an_order_event_uses_the_seeded_in_app_template(
    api: APIClient, make_customer: Any, make_order: Any
) -> None:
    customer = inbox_customer(make_customer, name="Ada")
    order = make_order(customer=customer["id"])
    from tests.conftest import plan_order_events

    plan_order_events()
    outbox_drain(channel="in_app")
    item = InboxItem.objects.get(customer_id=customer["id"])
    assert order["number"] in item.subject
    assert item.body.startswith("Hello Ada, thank you for your order")
    assert item.category == "order_updates"


def test_quiet_hours_hold_marketing_email_back_but_not_the_inbox(api: APIClient) -> None:
    from apps.customers.models import Customer

    hour = datetime.now(UTC).hour
    customer = Customer.objects.create(
        name="Night owl",
        email="owl@example.com",
        channels=["in_app", "email"],
        quiet_hours_start=time((hour - 1) % 24),
        quiet_hours_end=time((hour + 2) % 24),
    )
    notification = send(api, {"id": customer.pk}, category="marketing", channels=["in_app", "email"])
    due = dict(
        Delivery.objects.filter(notification_id=notification).values_list("channel", "next_attempt_at")
    )
    in_app, email = due["in_app"], due["email"]
    assert in_app is not None
    assert email is not None
    assert in_app <= datetime.now(UTC) < email


def test_a_delivery_sent_twice_makes_one_item() -> None:
    from apps.customers.models import Customer
    from apps.notifications.models import Notification

    customer = Customer.objects.create(name="Twice", channels=["in_app"])
    notification = Notification.objects.create(customer=customer, event="custom", category="marketing")
    message = InboxMessage(
        delivery_id=99, notification_id=notification.pk, customer_id=customer.pk, category="marketing",
        subject="S", body="B",
    )  # fmt: skip
    first, second = inbox_store([message]), inbox_store([message, message])
    assert first == second
    assert InboxItem.objects.filter(customer=customer).count() == 1
    assert InboxEvent.objects.filter(customer_id=customer.pk, kind="notification").count() == 1


def test_listing_by_status_and_counts(api: APIClient, make_customer: Any) -> None:
    customer = inbox_customer(make_customer)
    for n in range(3):
        send(api, customer, message=f"m{n}")
    outbox_drain(channel="in_app")
    ids = [i["id"] for i in api.get(inbox_url(customer)).json()["results"]]
    assert len(ids) == 3
    assert ids == sorted(ids, reverse=True)
    assert api.get(inbox_url(customer, "counts/")).json() == {"unseen": 3, "unread": 3, "total": 3}

    mark = api.post(inbox_url(customer, "mark/"), {"ids": [ids[0]], "as": "read"}, format="json")
    assert mark.status_code == 200
    assert mark.json() == {"updated": 1}
    assert api.post(inbox_url(customer, "mark/"), {"ids": [ids[0]], "as": "read"}, format="json").json() == {
        "updated": 0
    }
    assert api.post(inbox_url(customer, "mark/"), {"all": True, "as": "seen"}, format="json").json() == {
        "updated": 2
    }
    assert api.post(
        inbox_url(customer, "mark/"), {"ids": [ids[2]], "as": "archived"}, format="json"
    ).json() == {"updated": 1}
    assert api.get(inbox_url(customer, "counts/")).json() == {"unseen": 0, "unread": 1, "total": 2}

    def listed(status: str) -> list[int]:
        return [i["id"] for i in api.get(inbox_url(customer), {"status": status}).json()["results"]]

    assert listed("unread") == [ids[1]]
    assert listed("read") == [ids[0]]
    assert listed("archived") == [ids[2]]
    assert listed("all") == ids
    assert api.post(
        inbox_url(customer, "mark/"), {"ids": [ids[0]], "as": "unread"}, format="json"
    ).json() == {"updated": 1}
    assert listed("unread") == [ids[0], ids[1]]
    counts_events = InboxEvent.objects.filter(customer_id=customer["id"], kind="counts").order_by("id")
    assert counts_events.last().data == {"unseen": 0, "unread": 2}  # type: ignore[union-attr]


def test_marks_touch_only_the_customers_own_items(api: APIClient, make_customer: Any) -> None:
    mine, theirs = inbox_customer(make_customer), inbox_customer(make_customer, name="Other")
    send(api, mine)
    send(api, theirs)
    outbox_drain(channel="in_app")
    their_id = api.get(inbox_url(theirs)).json()["results"][0]["id"]
    answer = api.post(inbox_url(mine, "mark/"), {"ids": [their_id], "as": "read"}, format="json")
    assert answer.json() == {"updated": 0}
    assert api.get(inbox_url(theirs, "counts/")).json()["unread"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as": "read"}, "ids"),
        ({"ids": [1], "all": True, "as": "read"}, "ids"),
        ({"ids": [], "as": "read"}, "ids"),
        ({"ids": ["x"], "as": "read"}, "ids"),
        ({"ids": list(range(1, 1002)), "as": "read"}, "ids"),
        ({"all": True, "as": "deleted"}, "as"),
        ({"all": True}, "as"),
        ({"all": True, "as": "read", "extra": 1}, "extra"),
        ({"all": False, "as": "read"}, "all"),
        ({"ids": [1], "all": False, "as": "read"}, "all"),
    ],
)
def test_bad_marks_are_400_naming_the_field(
    api: APIClient, make_customer: Any, body: dict[str, Any], field: str
) -> None:
    customer = inbox_customer(make_customer)
    response = api.post(inbox_url(customer, "mark/"), body, format="json")
    assert response.status_code == 400, response.json()
    assert field in error_of(response)["details"]


def test_a_bad_status_filter_is_400(api: APIClient, make_customer: Any) -> None:
    customer = inbox_customer(make_customer)
    assert api.get(inbox_url(customer), {"status": "new"}).status_code == 400
    assert api.get("/api/v1/customers/999999/inbox/").status_code == 404


def test_the_server_api_needs_the_inbox_scope(make_customer: Any) -> None:
    customer = inbox_customer(make_customer)
    _, key = api_key_create(name="no inbox", scopes=["customers:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.get(inbox_url(customer))
    assert response.status_code == 403
    assert error_of(response)["details"] == {"required": "inbox"}
    _, key = api_key_create(name="inbox", scopes=["inbox"])
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get(inbox_url(customer)).status_code == 200


def test_the_browser_reads_and_marks_with_a_token(api: APIClient, make_customer: Any) -> None:
    customer, other = inbox_customer(make_customer), inbox_customer(make_customer, name="Other")
    send(api, customer, message="mine")
    send(api, other, message="theirs")
    outbox_drain(channel="in_app")
    issued = api.post(f"/api/v1/customers/{customer['id']}/inbox-token/")
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert datetime.fromisoformat(issued.json()["expires_at"]) > datetime.now(UTC) + timedelta(minutes=59)

    client = browser(token)
    items = client.get("/inbox/").json()["results"]
    assert [i["body"] for i in items] == ["mine"]
    assert APIClient().get("/inbox/", {"token": token}).json()["results"] == items
    assert client.get("/inbox/counts/").json() == {"unseen": 1, "unread": 1, "total": 1}
    in_url = APIClient().post(f"/inbox/mark/?token={token}", {"all": True, "as": "read"}, format="json")
    assert in_url.status_code == 401  # a change is never made on the strength of a URL
    assert client.post("/inbox/mark/", {"all": True, "as": "read"}, format="json").json() == {"updated": 1}
    assert client.get("/inbox/counts/").json() == {"unseen": 0, "unread": 0, "total": 1}


@pytest.mark.parametrize("token", ["", "garbage", "expired", "forged"])
def test_the_browser_api_refuses_a_missing_bad_or_expired_token(make_customer: Any, token: str) -> None:
    customer = inbox_customer(make_customer)
    if token == "expired":
        token = token_issue(customer["id"], now=datetime.now(UTC) - timedelta(hours=2)).token
    elif token == "forged":
        real = token_issue(customer["id"]).token
        token = real[:-2] + ("AA" if not real.endswith("AA") else "BB")
    for response in (
        browser(token).get("/inbox/"),
        browser(token).get("/inbox/counts/"),
        browser(token).post("/inbox/mark/", {"all": True, "as": "read"}, format="json"),
    ):
        assert response.status_code == 401
        assert error_of(response)["code"] in ("not_authenticated", "authentication_failed")
    assert browser(token).get("/inbox/").headers["WWW-Authenticate"].startswith("Bearer")


def test_an_api_key_is_no_inbox_token(api_key: str, make_customer: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    assert client.get("/inbox/").status_code == 401


def test_cors_lets_only_the_configured_origins_in(settings: Any, make_customer: Any) -> None:
    settings.INBOX_ALLOWED_ORIGINS = ["https://shop.example"]
    customer = inbox_customer(make_customer)
    token = token_issue(customer["id"]).token
    client = APIClient()
    preflight = client.options(
        "/inbox/mark/", HTTP_ORIGIN="https://shop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    allowed = client.get("/inbox/counts/", {"token": token}, HTTP_ORIGIN="https://shop.example")
    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    refused = client.get("/inbox/counts/", {"token": token}, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 200
    assert "Access-Control-Allow-Origin" not in refused


def test_the_stream_path_on_a_wsgi_process_says_where_it_is(anon: APIClient) -> None:
    response = anon.get("/inbox/stream/")
    assert response.status_code == 404
    assert "ASGI" in error_of(response)["message"]


def test_the_browser_routes_are_throttled_per_customer(
    api: APIClient, make_customer: Any, settings: Any
) -> None:
    settings.INBOX_THROTTLE_RATE = "3/day"  # one window for the whole test
    ada, bo = inbox_customer(make_customer), inbox_customer(make_customer, name="Bo")
    ada_browser, bo_browser = (
        browser(api.post(f"/api/v1/customers/{c['id']}/inbox-token/").json()["token"]) for c in (ada, bo)
    )

    codes = [ada_browser.get(path).status_code for path in ("/inbox/", "/inbox/counts/", "/inbox/") * 2]
    refused = ada_browser.post("/inbox/mark/", {"all": True}, format="json")

    assert codes == [200, 200, 200, 429, 429, 429]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert error_of(refused)["code"] == "throttled"
    assert bo_browser.get("/inbox/counts/").status_code == 200  # another customer's own count
    assert api.get(inbox_url(ada)).status_code == 200  # the shop's server is counted per key
