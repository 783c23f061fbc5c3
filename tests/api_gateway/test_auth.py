"""API keys: every /api/v1/ endpoint needs one; keys are stored hashed; read-only keys cannot write."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.api_gateway.models import ApiKey
from apps.api_gateway.services import api_key_create
from tests.conftest import error_of

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/v1/customers/"),
    ("post", "/api/v1/customers/"),
    ("get", "/api/v1/customers/1/"),
    ("put", "/api/v1/customers/1/"),
    ("patch", "/api/v1/customers/1/"),
    ("get", "/api/v1/orders/"),
    ("post", "/api/v1/orders/"),
    ("get", "/api/v1/orders/1/"),
    ("put", "/api/v1/orders/1/status/"),
]


@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_missing_key_is_401_with_www_authenticate(anon: APIClient, method: str, url: str) -> None:
    response = getattr(anon, method)(url, {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert error_of(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header", ["Api-Key nope.nope", "Api-Key ", "Bearer abc", "Api-Key abc", "api-key x.y.z"]
)
def test_bad_key_is_401(anon: APIClient, header: str) -> None:
    anon.credentials(HTTP_AUTHORIZATION=header)

    response = anon.get("/api/v1/customers/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert error_of(response)["code"] in {"not_authenticated", "authentication_failed"}


def test_revoked_and_expired_keys_are_401(anon: APIClient) -> None:
    revoked, revoked_key = api_key_create(name="old")
    revoked.revoked = True
    revoked.save()
    expired, expired_key = api_key_create(name="expired")
    expired.expiry_date = timezone.now() - dt.timedelta(minutes=1)
    expired.save()

    for key in (revoked_key, expired_key):
        anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        assert anon.get("/api/v1/customers/").status_code == 401


def test_valid_key_is_accepted_and_stored_only_hashed(api: APIClient, api_key: str) -> None:
    assert api.get("/api/v1/customers/").status_code == 200
    stored = ApiKey.objects.get()
    assert api_key not in (stored.hashed_key, stored.id)
    assert stored.hashed_key.startswith("sha512$$")


def test_read_only_key_may_read_but_not_write(anon: APIClient) -> None:
    _, key = api_key_create(name="dashboard", can_write=False)
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    read = anon.get("/api/v1/customers/")
    write = anon.post("/api/v1/customers/", {"name": "X", "email": "x@example.com"}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert error_of(write)["code"] == "permission_denied"


def test_create_api_key_command_prints_a_working_key_last(anon: APIClient) -> None:
    out, err = StringIO(), StringIO()

    call_command("create_api_key", "shop-backend", stdout=out, stderr=err)

    key = out.getvalue().strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9]{8}\.[A-Za-z0-9]{32}", key)
    anon.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert anon.get("/api/v1/orders/").status_code == 200


def test_operations_endpoints_need_no_key(anon: APIClient) -> None:
    assert anon.get("/health/").status_code == 200
    assert anon.get("/api/schema/").status_code == 200
