"""Hostile bodies and query values: every one ends in a 4xx in the error envelope, never a 5xx, on
every endpoint that takes a body (taken from the OpenAPI schema, so a new endpoint is covered too).
The client enforces CSRF checks, as a real API client without a CSRF token meets them."""

import json
from typing import Any

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.notifications.models import Notification, NotificationTemplate
from tests.conftest import error_of

pytestmark = pytest.mark.django_db

DEEP = 5000


def nested_context(depth: int) -> bytes:
    """A send whose context nests objects `depth` levels below the body (the body is level 1)."""
    inner = "1"
    for _ in range(depth - 1):
        inner = '{"a": ' + inner + "}"
    return ('{"customer": 1, "message": "Hi", "context": ' + inner + "}").encode()


# (name, body, content type): one entry per class of hostile input.
HOSTILE: list[tuple[str, bytes, str]] = [
    ("malformed", b'{"name": ', "application/json"),
    ("trailing garbage", b'{"name": "x"} {', "application/json"),
    ("empty", b"", "application/json"),
    ("deep arrays", b"[" * DEEP + b"]" * DEEP, "application/json"),
    ("deep objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP, "application/json"),
    ("deep context", nested_context(DEEP), "application/json"),
    ("context over the depth limit", nested_context(40), "application/json"),
    ("huge float", b'{"customer": 1e999, "name": 1e999, "context": {"n": 1e999}}', "application/json"),
    ("huge integer", b'{"customer": 1' + b"0" * 40 + b', "context": {"n": 1' + b"0" * 40 + b"}}",
     "application/json"),
    ("integer beyond int max str digits", b'{"customer": 9' + b"9" * 5000 + b"}", "application/json"),
    ("NaN", b'{"customer": NaN, "context": {"n": NaN}}', "application/json"),
    ("Infinity", b'{"customer": -Infinity, "context": {"n": Infinity}}', "application/json"),
    ("invalid UTF-8", b'{"name": "\xff\xfe\xfd", "message": "\xc3\x28"}', "application/json"),
    ("lone surrogate", b'{"name": "\\ud800", "message": "x\\udfff", "context": {"\\ud83d": 1}}',
     "application/json"),
    ("NUL in context", b'{"customer": 1, "message": "Hi", "context": {"a": "\\u0000"}}', "application/json"),
    ("byte order mark", b'\xef\xbb\xbf{"name": "Ada", "email": "a@example.com"}', "application/json"),
    ("latin-1 charset", '{"name": "Zoë"}'.encode("latin-1"), "application/json; charset=latin-1"),
    ("utf-16 charset", '{"name": "Zoë"}'.encode("utf-16"), "application/json; charset=utf-16"),
    ("unknown charset", b'{"name": "x"}', "application/json; charset=no-such-charset"),
    ("bytes codec as charset", b'{"name": "x"}', "application/json; charset=bz2_codec"),
    ("not JSON at all", b"name=Ada", "application/x-www-form-urlencoded"),
    ("text/plain", b'{"name": "Ada"}', "text/plain"),
    ("JSON scalar", b"42", "application/json"),
    ("JSON string", b'"hello"', "application/json"),
    ("null", b"null", "application/json"),
    ("array of objects", b'[{"name": "Ada"}]', "application/json"),
    ("wrong types everywhere", json.dumps({
        "name": {"x": 1}, "email": [1], "customer": "1; DROP TABLE", "items": {"sku": 1},
        "status": ["x"], "context": "text", "channels": "email", "ids": [True], "customers": [None],
        "quiet_hours": "22:00", "categories": [1], "time_zone": "Mars/Olympus_Mons",
        "key": ["k"], "body": {"b": 1}, "language": 7, "template": [None],
        "url": ["x"], "events": "all", "enabled": "maybe",
    }).encode(), "application/json"),
]  # fmt: skip


def body_operations() -> list[tuple[str, str]]:
    """(method, path) of every API operation that takes a request body, from the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    )


def send(client: APIClient, method: str, path: str, body: bytes, *, content_type: str) -> Any:
    """A request with these exact bytes as its body (the stubs type `generic` for text only)."""
    return client.generic(method, path, body, content_type=content_type)  # type: ignore[arg-type]


@pytest.fixture
def strict_api(api_key: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def ids(make_order: Any) -> dict[str, str]:
    order = make_order()
    template = NotificationTemplate.objects.get(key="order_shipped", channel="email", language="en")
    return {
        "customer_id": str(order["customer"]),
        "order_id": str(order["id"]),
        "template_id": str(template.pk),
        "version": "1",
        "endpoint_id": "1",  # another key's or none: 404 after the body is refused or not
    }


def test_the_schema_lists_the_endpoints_that_take_bodies() -> None:
    operations = body_operations()
    assert ("POST", "/api/v1/orders/") in operations
    assert ("PUT", "/api/v1/customers/{customer_id}/preferences/") in operations
    assert len(operations) >= 8


@pytest.mark.parametrize(("name", "body", "content_type"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_get_a_4xx_in_the_envelope_everywhere(
    strict_api: APIClient, ids: dict[str, str], name: str, body: bytes, content_type: str
) -> None:
    before = Notification.objects.count()
    for method, template in body_operations():
        path = template.format(**ids)
        response = send(strict_api, method, path, body, content_type=content_type)
        if name == "empty" and response.status_code == 200:
            # No body is `{}`: a PATCH that changes nothing, preferences back to their defaults.
            assert (method, template) in {
                ("PATCH", "/api/v1/customers/{customer_id}/"),
                ("PUT", "/api/v1/customers/{customer_id}/preferences/"),
                ("PATCH", "/api/v1/templates/{template_id}/"),
            }
            continue
        assert 400 <= response.status_code < 500, f"{name}: {method} {path} -> {response.status_code}"
        error_of(response)
    assert Notification.objects.count() == before  # nothing half-written either


@pytest.mark.parametrize(
    ("name", "body", "content_type", "code"),
    [
        ("deep arrays", b"[" * DEEP + b"]" * DEEP, "application/json", "parse_error"),
        ("huge float", b'{"name": 1e999}', "application/json", "parse_error"),
        ("NaN", b'{"name": NaN}', "application/json", "parse_error"),
        ("invalid UTF-8", b'{"name": "\xff"}', "application/json", "parse_error"),
        ("lone surrogate", b'{"name": "\\ud800"}', "application/json", "parse_error"),
        ("byte order mark", b'\xef\xbb\xbf{"name": "Ada"}', "application/json", "parse_error"),
        ("latin-1", b'{"name": "x"}', "application/json; charset=latin-1", "unsupported_media_type"),
    ],
)
def test_each_class_has_its_error_code(
    strict_api: APIClient, name: str, body: bytes, content_type: str, code: str
) -> None:
    response = send(strict_api, "POST", "/api/v1/customers/", body, content_type=content_type)
    assert error_of(response)["code"] == code, name


def test_depth_limit_is_exact(strict_api: APIClient, ids: dict[str, str]) -> None:
    """The parser's limit, before any view: at the limit the body parses (and the send's context,
    three levels at most, is then refused by its own rule); one level deeper is a parse error."""
    limit = settings.API_JSON_MAX_DEPTH
    at_limit = nested_context(limit).replace(b'"customer": 1', f'"customer": {ids["customer_id"]}'.encode())
    over = nested_context(limit + 1).replace(b'"customer": 1', f'"customer": {ids["customer_id"]}'.encode())

    accepted = send(
        strict_api, "POST", "/api/v1/notifications/send/", at_limit, content_type="application/json"
    )
    refused = send(strict_api, "POST", "/api/v1/notifications/send/", over, content_type="application/json")

    assert (accepted.status_code, error_of(accepted)["code"]) == (400, "validation_error")
    assert list(error_of(accepted)["details"]) == ["context"]
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "parse_error"
    assert str(limit) in error_of(refused)["message"]


def test_utf8_charset_and_astral_characters_are_fine(strict_api: APIClient) -> None:
    body = json.dumps({"name": "Zoë \U0001f600 \\ud83d\\ude00", "email": "z@example.com"})
    response = send(
        strict_api,
        "POST",
        "/api/v1/customers/",
        body.encode(),
        content_type="application/json; charset=UTF-8",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["name"].startswith("Zoë \U0001f600")


HOSTILE_QUERIES = [
    "customer=1e999",
    "customer=99999999999999999999999999",
    "customer=-1",
    "customer=%00",
    "status=%ff%fe",
    "email=%ed%a0%80",
    "external_id=" + "x" * 5000,
    "created_after=99999-01-01",
    "created_before=%00",
    "since=yesterday",
    "page=99999999999999999999",
    "page=-1",
    "page_size=-5",
    "page_size=1e9",
    "cursor=%ff%ff",
    "cursor=" + "A" * 2000,
    "channel=%00",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_query_values_never_5xx(strict_api: APIClient, ids: dict[str, str], query: str) -> None:
    for path in (
        "/api/v1/customers/",
        "/api/v1/orders/",
        "/api/v1/notifications/history/",
        "/api/v1/notifications/dead-letters/",
    ):
        response = strict_api.get(f"{path}?{query}")
        assert response.status_code < 500, f"{path}?{query[:40]} -> {response.status_code}"
        if response.status_code >= 400:
            error_of(response)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET", "OPTIONS"])
@pytest.mark.parametrize(
    "path", ["/api/v1/webhookz/", "/api/v1/templets/7/", "/api/nothing", "/api/v2/orders/"]
)
def test_unknown_api_paths_are_an_enveloped_404_for_every_method(
    strict_api: APIClient, method: str, path: str
) -> None:
    response = send(strict_api, method, path, b'{"x": 1}', content_type="application/json")
    assert response.status_code in (404, 405)
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] in ("not_found", "method_not_allowed")
