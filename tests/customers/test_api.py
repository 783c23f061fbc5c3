"""Customers through the HTTP API: create, read, replace, patch, list, and every validation rule."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import error_of

pytestmark = pytest.mark.django_db

URL = "/api/v1/customers/"


def test_create_returns_201_with_defaults(api: APIClient) -> None:
    response = api.post(URL, {"name": "Ada", "email": "ada@example.com"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Ada"
    assert body["language"] == "en"
    assert body["channels"] == ["email"]
    assert body["external_id"] is None
    assert body["created_at"].endswith("Z") or "+" in body["created_at"]


def test_default_channels_follow_telegram_then_email(api: APIClient) -> None:
    body = {"name": "Grace", "email": "g@example.com", "telegram_chat_id": 42}
    response = api.post(URL, body, format="json")

    assert response.status_code == 201
    assert response.json()["channels"] == ["telegram", "email"]


@pytest.mark.parametrize("chat_id", [123456789, "123456789", "-1001234567890", "@shop_customer"])
def test_telegram_chat_id_forms_are_accepted_and_returned(api: APIClient, chat_id: Any) -> None:
    response = api.post(URL, {"name": "T", "telegram_chat_id": chat_id}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["telegram_chat_id"] == str(chat_id)
    assert response.json()["channels"] == ["telegram"]


def test_explicit_channel_order_is_kept(api: APIClient) -> None:
    body = {"name": "G", "email": "g@example.com", "telegram_chat_id": "7", "channels": ["email", "telegram"]}
    response = api.post(URL, body, format="json")

    assert response.json()["channels"] == ["email", "telegram"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "name"),
        ({"name": "No contact"}, "non_field_errors"),
        ({"name": "X", "email": "not-an-email"}, "email"),
        ({"name": "X", "telegram_chat_id": "12ab"}, "telegram_chat_id"),
        ({"name": "X", "telegram_chat_id": True}, "telegram_chat_id"),
        ({"name": "X", "telegram_chat_id": 1.5}, "telegram_chat_id"),
        ({"name": "X", "phone": "call me"}, "phone"),
        ({"name": "X", "email": "a@example.com", "language": "xx"}, "language"),
        ({"name": "X", "email": "a@example.com", "channels": ["sms"]}, "channels"),
        ({"name": "X", "email": "a@example.com", "channels": ["telegram"]}, "channels"),
        ({"name": "X", "email": "a@example.com", "channels": ["email", "email"]}, "channels"),
        ({"name": "X", "email": "a@example.com", "channels": "email"}, "channels"),
        ({"name": 5, "email": "a@example.com"}, "name"),
        ({"name": "X" * 201, "email": "a@example.com"}, "name"),
    ],
)
def test_invalid_customer_is_400_with_field_details(api: APIClient, body: dict[str, Any], field: str) -> None:
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert field in error["details"], error


def test_duplicate_external_id_is_409_conflict(api: APIClient, make_customer: Any) -> None:
    make_customer(external_id="shop-1")

    response = api.post(URL, {"name": "B", "email": "b@example.com", "external_id": "shop-1"}, format="json")
    changed = api.post(URL, {"name": "C", "email": "c@example.com"}, format="json").json()
    put = api.put(
        f"{URL}{changed['id']}/",
        {"name": "C", "email": "c@example.com", "external_id": "shop-1"},
        format="json",
    )

    assert (response.status_code, error_of(response)["code"]) == (409, "conflict")
    assert "external_id" in error_of(response)["details"]
    assert (put.status_code, error_of(put)["code"]) == (409, "conflict")


def test_a_duplicate_beside_another_error_is_400(api: APIClient, make_customer: Any) -> None:
    make_customer(external_id="shop-1")

    response = api.post(URL, {"name": "B", "phone": "12", "external_id": "shop-1"}, format="json")

    assert response.status_code == 400


def test_blank_external_ids_do_not_collide(make_customer: Any) -> None:
    first = make_customer(external_id="")
    second = make_customer(external_id="")

    assert first["external_id"] is None
    assert second["external_id"] is None


def test_retrieve(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(name="Ada")

    response = api.get(f"{URL}{customer['id']}/")

    assert response.status_code == 200
    assert response.json() == customer


@pytest.mark.parametrize("bad_id", ["999999", "abc", "0", "-1", "99999999999999999999999"])
def test_unknown_or_malformed_id_is_404(api: APIClient, bad_id: str) -> None:
    response = api.get(f"{URL}{bad_id}/")

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_put_replaces_the_customer(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(name="Ada", email="ada@example.com", phone="+44 20 1234567", language="de")

    response = api.put(
        f"{URL}{customer['id']}/", {"name": "Ada L.", "telegram_chat_id": "@ada_l"}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "Ada L."
    assert body["email"] == ""
    assert body["phone"] == ""
    assert body["language"] == "en"
    assert body["channels"] == ["telegram"]


def test_patch_changes_only_given_fields(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(name="Ada", language="de")

    response = api.patch(f"{URL}{customer['id']}/", {"telegram_chat_id": 99}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["telegram_chat_id"] == "99"
    assert body["name"] == "Ada"
    assert body["language"] == "de"
    assert body["email"] == "ada@example.com"


def test_patch_removing_the_contact_a_channel_needs_is_409(api: APIClient, make_customer: Any) -> None:
    """The patch is valid on its own; with the customer's channels it is not: a conflict with the
    stored state (a whole body breaking the same rule is a 400, as the document states)."""
    customer = make_customer(email="ada@example.com")

    response = api.patch(f"{URL}{customer['id']}/", {"email": "", "phone": "+49 30 123456"}, format="json")

    assert (response.status_code, error_of(response)["code"]) == (409, "conflict")
    assert "channels" in error_of(response)["details"]
    assert api.get(f"{URL}{customer['id']}/").json()["email"] == "ada@example.com"


def test_put_invalid_body_is_400_and_changes_nothing(api: APIClient, make_customer: Any) -> None:
    customer = make_customer(name="Ada")

    response = api.put(f"{URL}{customer['id']}/", {"name": ""}, format="json")

    assert response.status_code == 400
    assert api.get(f"{URL}{customer['id']}/").json() == customer


def test_list_is_paginated_newest_first(api: APIClient, make_customer: Any) -> None:
    ids = [make_customer(email=f"c{i}@example.com")["id"] for i in range(3)]

    response = api.get(URL, {"page_size": 2})

    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == ids[::-1][:2]
    assert body["next"] is not None
    assert body["previous"] is None
    second = api.get(body["next"]).json()
    assert [c["id"] for c in second["results"]] == [ids[0]]


def test_list_filters_by_email_and_external_id(api: APIClient, make_customer: Any) -> None:
    make_customer(email="one@example.com", external_id="e-1")
    two = make_customer(email="two@example.com", external_id="e-2")

    by_email = api.get(URL, {"email": "TWO@example.com"}).json()
    by_external = api.get(URL, {"external_id": "e-2"}).json()

    assert [c["id"] for c in by_email["results"]] == [two["id"]]
    assert [c["id"] for c in by_external["results"]] == [two["id"]]
