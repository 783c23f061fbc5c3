"""API key scopes: every endpoint and method needs its scope, a key without it gets 403 naming it, and a
key made before scopes keeps what it could do."""

import re
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.api_gateway.models import ApiKey
from apps.api_gateway.scopes import ALL_SCOPES
from apps.api_gateway.services import api_key_create
from tests.conftest import error_of

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
            yield route, pattern.callback.cls


def endpoints() -> list[tuple[str, str, str]]:
    """(path, method, required scope) for every method every API view answers."""
    found = []
    for route, view in _walk(get_resolver("config.urls").url_patterns, "/"):
        if not route.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?\w+>", "1", route)
        for method in METHODS:
            if hasattr(view, method.lower()):
                found.append((path, method, view.scopes[method]))
    return found


ENDPOINTS = endpoints()


def client_with(scopes: list[str] | None = None, *, legacy_write: bool | None = None) -> APIClient:
    api_key, key = api_key_create(name="scoped", scopes=scopes)
    if legacy_write is not None:
        ApiKey.objects.filter(pk=api_key.pk).update(scopes=None, can_write=legacy_write)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_every_api_view_names_a_scope_for_each_of_its_methods() -> None:
    assert len(ENDPOINTS) >= 30
    assert all(scope in ALL_SCOPES for _, _, scope in ENDPOINTS)


@pytest.mark.parametrize(("path", "method", "scope"), ENDPOINTS, ids=[f"{m} {p}" for p, m, _ in ENDPOINTS])
def test_a_key_without_the_scope_is_403_naming_it_and_with_it_gets_through(
    path: str, method: str, scope: str
) -> None:
    without = client_with([s for s in ALL_SCOPES if s != scope])
    refused = getattr(without, method.lower())(path, {}, format="json")

    assert refused.status_code == 403
    error = error_of(refused)
    assert (error["code"], error["details"]) == ("permission_denied", {"required": scope})

    allowed = getattr(client_with([scope]), method.lower())(path, {}, format="json")
    assert allowed.status_code != 403


def test_a_read_scope_reads_and_does_not_write(make_customer: Any) -> None:
    reader = client_with(["customers:read"])

    assert reader.get("/api/v1/customers/").status_code == 200
    assert (
        reader.post("/api/v1/customers/", {"name": "X", "email": "x@example.com"}, format="json").status_code
        == 403
    )


@pytest.mark.parametrize(("can_write", "post_status"), [(True, 201), (False, 403)])
def test_a_key_made_before_scopes_keeps_what_it_could_do(can_write: bool, post_status: int) -> None:
    legacy = client_with(legacy_write=can_write)

    assert legacy.get("/api/v1/webhooks/").status_code == 200
    created = legacy.post("/api/v1/customers/", {"name": "X", "email": "x@example.com"}, format="json")
    assert created.status_code == post_status


def test_create_api_key_takes_scopes_and_refuses_unknown_ones() -> None:
    out = StringIO()
    call_command(
        "create_api_key", "ops", "--scopes", "orders:read,customers:read", stdout=out, stderr=StringIO()
    )

    assert ApiKey.objects.get(name="ops").scopes == ["customers:read", "orders:read"]
    with pytest.raises(CommandError, match="Unknown scopes: orders:delete"):
        call_command(
            "create_api_key", "bad", "--scopes", "orders:delete", stdout=StringIO(), stderr=StringIO()
        )


def test_a_new_key_has_every_scope_and_a_read_only_one_the_read_scopes() -> None:
    full, _ = api_key_create(name="full")
    reader, _ = api_key_create(name="reader", can_write=False)

    assert sorted(full.scopes or []) == sorted(ALL_SCOPES)
    assert reader.scopes
    assert all(s.endswith(":read") for s in reader.scopes)
