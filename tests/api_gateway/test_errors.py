"""One error envelope for every error class the API can answer, never an HTML page."""

import re
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.conftest import error_of

pytestmark = pytest.mark.django_db


def test_400_validation(api: APIClient) -> None:
    response = api.post("/api/v1/customers/", {}, format="json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"


def test_400_malformed_json(api: APIClient) -> None:
    response = api.generic("POST", "/api/v1/customers/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "parse_error"


def test_400_json_that_is_not_an_object(api: APIClient) -> None:
    response = api.generic("POST", "/api/v1/orders/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"


def test_401(anon: APIClient) -> None:
    response = anon.get("/api/v1/orders/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize("url", ["/api/v1/nothing-here/", "/api/v2/customers/", "/api/v1/customers/1/x/"])
def test_404_unknown_route_is_json_even_with_debug(api: APIClient, url: str) -> None:
    with override_settings(DEBUG=True):
        response = api.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"


def test_404_unknown_route_without_debug(api: APIClient) -> None:
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_405(api: APIClient, make_customer: Any) -> None:
    customer = make_customer()
    response = api.delete(f"/api/v1/customers/{customer['id']}/")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


def test_409(api: APIClient, make_order: Any) -> None:
    order = make_order()
    response = api.put(f"/api/v1/orders/{order['id']}/status/", {"status": "delivered"}, format="json")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "illegal_transition"
    assert error["details"]["allowed"] == ["cancelled", "confirmed"]


@override_settings(API_MAX_BODY_BYTES=1024)
def test_413_body_too_large(api: APIClient) -> None:
    body = {"name": "x" * 2000, "email": "big@example.com"}
    response = api.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "request_too_large"
    assert error["details"] == {"max_bytes": 1024}


def test_415_unsupported_media_type(api: APIClient) -> None:
    response = api.generic(
        "POST", "/api/v1/customers/", "name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


@override_settings(API_THROTTLE_RATE="3/min")
def test_429_throttled_with_retry_after(api: APIClient) -> None:
    codes = [api.get("/api/v1/customers/").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    response = api.get("/api/v1/customers/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 61
    error = error_of(response)
    assert error["code"] == "throttled"
    assert error["details"]["retry_after"] >= 1


@override_settings(API_THROTTLE_RATE="2/min")
def test_throttle_counts_per_api_key(api: APIClient, anon: APIClient) -> None:
    from apps.api_gateway.services import api_key_create

    for _ in range(3):
        api.get("/api/v1/customers/")
    _, other = api_key_create(name="other")
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {other}")

    assert api.get("/api/v1/customers/").status_code == 429
    assert anon.get("/api/v1/customers/").status_code == 200


def test_swagger_ui_is_served_from_local_static_files(anon: APIClient) -> None:
    page = anon.get("/api/docs/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    # Every script and stylesheet is local: no absolute URL to another host (a CDN). The page also
    # holds a random CSRF token, so a plain substring search for "cdn" fails now and then.
    assert re.findall(r'(?:src|href)="(https?:)?//', html) == []
    asset = anon.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_openapi_schema_lists_the_endpoints(anon: APIClient) -> None:
    schema = anon.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert {"/api/v1/customers/", "/api/v1/orders/", "/api/v1/orders/{order_id}/status/"} <= set(
        schema["paths"]
    )


def test_openapi_schema_generates_without_warnings(tmp_path: Any) -> None:
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "ApiKeyAuth" in (tmp_path / "schema.yml").read_text()
