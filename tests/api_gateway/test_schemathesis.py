"""Property-based API fuzzing from our own OpenAPI schema (schemathesis): whatever the input, no 5xx,
every error comes in the documented envelope, and every answer conforms to the schema (status code
documented, content type and body as the schema says), so the schema cannot drift from the API.
Bounded: a few examples per operation.

The requests go through the real WSGI application (as gunicorn would call it), so the test runs with
committed data: the handler closes and reopens database connections between requests.
"""

from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.api_gateway.services import api_key_create

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def check_envelope(case: Any, response: Any) -> None:
    """4xx answers carry {"error": {"code", "message", "details"}}."""
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert {"code", "message", "details"} <= set(body["error"]), body


def test_no_5xx_every_error_in_the_envelope_and_every_answer_as_documented(make_order: Any) -> None:
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
            headers = {"Authorization": f"Api-Key {key}"}
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
            check_envelope(case, response)

        fuzz()


def test_list_endpoints_are_documented_as_their_envelopes() -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application()).raw_schema
    for path in ("/api/v1/customers/", "/api/v1/orders/", "/api/v1/notifications/history/",
                 "/api/v1/notifications/dead-letters/"):  # fmt: skip
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        component = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[-1]]
        assert {"next", "previous", "results"} <= set(component["properties"]), path
        assert "400" in schema["paths"][path]["get"]["responses"]


def test_every_operation_lists_its_errors_in_the_envelope() -> None:
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application()).raw_schema
    for path, item in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"401", "429"} <= codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "403", "413", "415"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            for code in codes - {"200", "201", "202", "204"}:
                ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/Error"), (method, path, code)
