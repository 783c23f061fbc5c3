"""The cache layer on real Redis: an API key verified from the cache costs no query, a revoked key
stops working at once, and with Redis unreachable every look-up falls back to the database."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from rest_framework.test import APIClient

from apps.api_gateway.models import ApiKey
from apps.api_gateway.services import api_key_create
from tests.conftest import error_of
from tests.fakes.metrics import sample

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def key_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if ApiKey._meta.db_table in q["sql"]]


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_a_cached_key_costs_no_query(require_redis: str) -> None:
    _, key = api_key_create(name="cached")
    client = client_with(key)
    assert client.get("/api/v1/customers/").status_code == 200  # a miss: read and stored

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/customers/")

    assert response.status_code == 200
    assert key_queries(queries) == []


def test_a_wrong_secret_with_a_cached_prefix_is_still_refused(require_redis: str) -> None:
    _, key = api_key_create(name="cached")
    assert client_with(key).get("/api/v1/customers/").status_code == 200
    prefix, _, secret = key.partition(".")

    response = client_with(f"{prefix}.{'x' * len(secret)}").get("/api/v1/customers/")

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_a_revoked_key_stops_working_at_once(
    require_redis: str, django_capture_on_commit_callbacks: Any
) -> None:
    api_key, key = api_key_create(name="soon revoked")
    client = client_with(key)
    assert client.get("/api/v1/customers/").status_code == 200  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        api_key.revoked = True
        api_key.save()

    assert client.get("/api/v1/customers/").status_code == 401


def test_redis_down_falls_back_to_the_database(require_redis: str, client: Any) -> None:
    from apps.api_gateway import metrics  # noqa: F401 - the counters live in the default registry
    from core.cache import CACHE_REQUESTS

    _, key = api_key_create(name="no redis")
    before = CACHE_REQUESTS.labels("api_keys", "error")._value.get()
    with override_settings(CACHES=UNREACHABLE_REDIS):
        first = client_with(key).get("/api/v1/customers/")
        second = client_with(key).get("/api/v1/customers/")

    assert first.status_code == second.status_code == 200
    assert CACHE_REQUESTS.labels("api_keys", "error")._value.get() >= before + 2


@override_settings(CACHE_ENABLED=False)
def test_cache_disabled_reads_the_database_every_time(require_redis: str) -> None:
    _, key = api_key_create(name="uncached")
    client = client_with(key)
    client.get("/api/v1/customers/")

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/customers/").status_code == 200

    assert len(key_queries(queries)) == 1


def test_cache_counters_are_in_the_metrics(require_redis: str) -> None:
    _, key = api_key_create(name="metrics")
    client = client_with(key)
    name = "notifications_cache_requests_total"
    before = APIClient().get("/metrics/").content.decode()

    client.get("/api/v1/customers/")  # the key is read from the database and cached
    client.get("/api/v1/customers/")  # and found in the cache

    after = APIClient().get("/metrics/").content.decode()
    for result in ("miss", "hit"):
        added = sample(after, name, cache="api_keys", result=result) - sample(
            before, name, cache="api_keys", result=result
        )
        assert added == 1, result


@pytest.mark.slow
def test_a_key_revoked_by_another_process_is_refused_at_once_by_gunicorn(stacks: Any) -> None:
    """gunicorn has the key cached (Redis, and whatever its process keeps); the revocation comes from
    another process (a management shell, as an operator or the admin would): the next request is 401."""
    from tests.fakes.processes import manage

    api_key, key = api_key_create(name="revoked elsewhere")
    stack = stacks(worker=False, web=True)
    client = stack.client(key)
    before = [client.get("/api/v1/customers/").status_code for _ in range(4)]
    revoke = (
        "from apps.api_gateway.models import ApiKey; "
        f"k = ApiKey.objects.get(pk={api_key.pk!r}); k.revoked = True; k.save()"
    )
    manage("shell", "-c", revoke, env=stack.env)
    after = [client.get("/api/v1/customers/").status_code for _ in range(4)]

    assert before == [200] * 4
    assert after == [401] * 4
