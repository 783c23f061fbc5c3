"""Property-based API fuzzing from our own OpenAPI schema (schemathesis): whatever the input, no 5xx,
and every error comes in the documented envelope. Bounded: a few examples per operation.

The requests go through the real WSGI application (as gunicorn would call it), so the test runs with
committed data: the handler closes and reopens database connections between requests.
"""

from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings

from apps.api_gateway.services import api_key_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLES_PER_OPERATION = 25


def check_response(case: Any, response: Any) -> None:
    """4xx answers carry {"error": {"code", "message", "details"}}; nothing is ever 5xx."""
    assert response.status_code < 500, (
        f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
    )
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert {"code", "message", "details"} <= set(body["error"]), body


def test_no_5xx_and_every_error_in_the_envelope(make_order: Any) -> None:
    make_order()  # something to find for the ids the fuzzer tries
    _, key = api_key_create(name="fuzz")
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Api-Key {key}"})
            check_response(case, response)

        fuzz()
