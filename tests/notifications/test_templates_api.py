"""Templates through the HTTP API: CRUD with the sandbox's compile check (field, line and reason),
versions and restore, preview exactly as a send renders, and the templates order events need."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.api_gateway.services import api_key_create
from apps.notifications.models import Delivery, Notification, NotificationTemplate
from tests.conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"
WELCOME = {
    "key": "welcome",
    "channel": "email",
    "language": "en",
    "subject": "Welcome, {{ customer.name }}",
    "body": "Hello {{ customer.name }},\nthank you for signing up.",
}


def create(api: APIClient, **fields: Any) -> dict[str, Any]:
    response = api.post(URL, {**WELCOME, **fields}, format="json")
    assert response.status_code == 201, response.json()
    return dict(response.json())


def test_create_read_list_change_and_delete(api: APIClient) -> None:
    created = create(api)
    assert created["version"] == 1
    assert created["body"] == WELCOME["body"]
    assert created["body_html"] == ""

    assert api.get(f"{URL}{created['id']}/").json() == created
    listed = api.get(URL, {"key": "welcome", "channel": "email", "language": "en"}).json()
    assert [t["id"] for t in listed["results"]] == [created["id"]]
    assert api.get(URL, {"key": "welcome", "channel": "telegram"}).json()["results"] == []

    changed = api.patch(f"{URL}{created['id']}/", {"subject": "Hi {{ customer.name }}"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["subject"] == "Hi {{ customer.name }}"
    assert changed.json()["body"] == WELCOME["body"]
    assert changed.json()["version"] == 2

    replaced = api.put(f"{URL}{created['id']}/", {**WELCOME, "body": "New text"}, format="json")
    assert replaced.json()["body"] == "New text"
    assert replaced.json()["version"] == 3

    assert api.delete(f"{URL}{created['id']}/").status_code == 204
    assert api.get(f"{URL}{created['id']}/").status_code == 404


@pytest.mark.parametrize(
    ("field", "source", "line", "reason"),
    [
        ("body", "Hello\n{% load static %}", 2, "Invalid block tag on line 2: 'load'"),
        ("body", "Hi\n\n{% debug %}", 3, "Invalid block tag on line 3: 'debug'"),
        ("subject", "{% if %}", 1, "Unexpected end of expression in if tag"),
        ("body_html", "<p>\n{{ name|nosuchfilter }}</p>", 2, "Invalid filter: 'nosuchfilter'"),
    ],
)
def test_a_template_that_does_not_compile_is_400_naming_field_line_and_reason(
    api: APIClient, field: str, source: str, line: int, reason: str
) -> None:
    response = api.post(URL, {**WELCOME, field: source}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    [message] = error["details"][field]
    assert message.startswith(f"Line {line}: ")
    assert reason in message
    assert not NotificationTemplate.objects.filter(key="welcome").exists()


def test_a_change_that_does_not_compile_changes_nothing(api: APIClient) -> None:
    created = create(api)

    response = api.patch(f"{URL}{created['id']}/", {"body": "{% for %}"}, format="json")

    assert response.status_code == 400
    assert api.get(f"{URL}{created['id']}/").json() == created


def test_a_second_template_with_the_same_key_channel_and_language_is_409(api: APIClient) -> None:
    create(api)

    response = api.post(URL, WELCOME, format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "conflict"
    assert create(api, language="de")["language"] == "de"  # another language is another template


def test_templates_order_events_need_cannot_be_deleted(api: APIClient) -> None:
    needed = NotificationTemplate.objects.get(key="order_shipped", channel="email", language="en")
    german = NotificationTemplate.objects.get(key="order_shipped", channel="email", language="de")

    response = api.delete(f"{URL}{needed.pk}/")

    assert response.status_code == 409
    assert error_of(response)["code"] == "template_in_use"
    assert NotificationTemplate.objects.filter(pk=needed.pk).exists()
    assert api.delete(f"{URL}{german.pk}/").status_code == 204  # English is every language's fallback


def test_every_change_keeps_a_version_and_an_old_one_can_be_restored(api: APIClient) -> None:
    created = create(api)
    api.patch(f"{URL}{created['id']}/", {"body": "Second"}, format="json")
    api.patch(f"{URL}{created['id']}/", {"body": "Third"}, format="json")

    versions = api.get(f"{URL}{created['id']}/versions/").json()["results"]
    assert [(v["version"], v["body"]) for v in versions] == [
        (3, "Third"),
        (2, "Second"),
        (1, WELCOME["body"]),
    ]

    restored = api.post(f"{URL}{created['id']}/versions/1/restore/")
    assert restored.status_code == 200
    assert restored.json()["body"] == WELCOME["body"]
    assert restored.json()["version"] == 4
    assert api.post(f"{URL}{created['id']}/versions/9/restore/").status_code == 404


def test_seeded_and_admin_edited_templates_are_versioned_too(api: APIClient) -> None:
    seeded = NotificationTemplate.objects.get(key="order_created", channel="email", language="en")
    original = seeded.body_text
    assert [v["version"] for v in api.get(f"{URL}{seeded.pk}/versions/").json()["results"]] == [1]

    seeded.body_text = "Edited in the admin"
    seeded.save()

    versions = api.get(f"{URL}{seeded.pk}/versions/").json()["results"]
    assert [(v["version"], v["body"]) for v in versions] == [(2, "Edited in the admin"), (1, original)]


def test_preview_renders_a_stored_template_as_a_send_would_and_sends_nothing(
    api: APIClient, make_customer: Any
) -> None:
    customer = make_customer(name="Ada")
    template = NotificationTemplate.objects.get(key="order_shipped", channel="email", language="en")

    response = api.post(
        f"{URL}preview/",
        {"template": template.pk, "customer": customer["id"], "context": {"order": {"number": "ORD-000042"}}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["subject"] == "Order ORD-000042 is on its way"
    assert "Ada" in response.json()["body"]
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()


def test_preview_of_an_inline_telegram_template_escapes_like_a_send(
    api: APIClient, make_customer: Any
) -> None:
    customer = make_customer(name="Tom & <Jerry>")
    inline = {"channel": "telegram", "body": "Hi {{ customer.name }}: {{ note }}"}

    response = api.post(
        f"{URL}preview/",
        {"template": inline, "customer": customer["id"], "context": {"note": "<b>soon</b>"}},
        format="json",
    )

    assert response.json()["body"] == "Hi Tom &amp; &lt;Jerry&gt;: &lt;b&gt;soon&lt;/b&gt;"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"template": {"channel": "email", "body": "{% load x %}"}}, "template", 400),
        ({"template": "welcome"}, "template", 400),
        ({"template": 999999}, "template", 404),
        ({"template": {"channel": "fax", "body": "x"}}, "template", 400),
        ({"template": {"channel": "email", "body": "x", "bodyhtml": ""}}, "template", 400),
        ({"template": {"channel": "email", "body": "x"}, "customer": 999999}, "customer", 404),
    ],
)
def test_preview_refuses_what_it_cannot_render(
    api: APIClient, body: dict[str, Any], field: str, status: int
) -> None:
    """Bad input is a 400; an id of nothing stored is a 404 naming the field."""
    response = api.post(f"{URL}preview/", body, format="json")

    assert response.status_code == status
    assert field in error_of(response)["details"]


def test_unknown_templates_are_404_and_a_read_only_key_cannot_write(api: APIClient) -> None:
    assert api.get(f"{URL}999999/").status_code == 404
    assert api.get(f"{URL}abc/versions/").status_code == 404
    _, key = api_key_create(name="dashboard", can_write=False)
    read_only = APIClient()
    read_only.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert read_only.get(URL).status_code == 200
    assert read_only.post(URL, WELCOME, format="json").status_code == 403
