"""The OpenAPI document and the server agree: schemathesis, run as an integrator runs it (its CLI, the
repository's schemathesis.toml), against gunicorn on the test database, with every check, positive and
negative data, and every phase (examples, coverage, fuzzing, and the stateful phase walking the
document's links from each create to the operations using its id). Bounded: a fixed seed and a few
examples per operation; any disagreement fails the test with schemathesis' report.

The request bodies, parameters and answers it checks are those a generated client would produce and
expect: strict JSON types, no undocumented properties, patterns, lengths within the body limit, 404 for
an id of nothing stored, 409 for a uniqueness clash (docs/api.md)."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application

from apps.api_gateway.services import api_key_create
from apps.customers.services import customer_create
from apps.inbox.tokens import token_issue
from tests.fakes.stack import Stack
from tests.fakes.worker import seed_default_templates

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_PER_OPERATION = 15
SEED = 20261205


def schemathesis_run(url: str, *options: str) -> str:
    """`schemathesis run` with every check and mode; its report (it must pass)."""
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", url, "--checks", "all"]
    command += ["--mode", "all", "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED)]
    run = subprocess.run(
        [*command, "--no-color", *options],
        cwd=ROOT,  # schemathesis.toml
        capture_output=True,
        text=True,
        timeout=840,
    )
    report = run.stdout[-12_000:] + run.stderr[-2_000:]
    assert run.returncode == 0, report
    assert "Authentication failed" not in report, report  # it reached the API, not only 401s
    return report


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_disagreement_in_any_check_or_phase(stacks: Callable[..., Stack]) -> None:
    seed_default_templates()
    ada = customer_create(name="Ada", email="ada@example.com", external_id="ada")  # something to find
    _, key = api_key_create(name="fuzz")
    url = f"{stacks(worker=False, web=True).web_url}/api/schema/"
    report = schemathesis_run(
        url, "--header", f"Authorization: Api-Key {key}", "--exclude-path-regex", "^/inbox/",
        "--phases", "examples,coverage,fuzzing,stateful",
    )  # fmt: skip
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report  # each phase ran (a skipped phase shows no tick)
    # The browser's routes, with the inbox token they take instead of a key.
    token = token_issue(ada.pk).token
    report = schemathesis_run(
        url, "--header", f"Authorization: Bearer {token}", "--include-path-regex", "^/inbox/",
        "--phases", "examples,coverage,fuzzing",
    )  # fmt: skip
    assert "3 selected / " in report, report


def test_list_endpoints_are_documented_as_their_envelopes() -> None:
    schema = raw_schema()
    for path in ("/api/v1/customers/", "/api/v1/orders/", "/api/v1/notifications/history/",
                 "/api/v1/notifications/dead-letters/"):  # fmt: skip
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        component = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[-1]]
        assert {"next", "previous", "results"} <= set(component["properties"]), path
        assert "400" in schema["paths"][path]["get"]["responses"]


def test_every_operation_lists_its_errors_in_the_envelope() -> None:
    schema = raw_schema()
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


def raw_schema() -> dict[str, Any]:
    return dict(schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application()).raw_schema)


def test_each_create_links_to_the_operations_that_use_its_id() -> None:
    responses = {
        (path, method): operation["responses"]
        for path, item in raw_schema()["paths"].items()
        for method, operation in item.items()
    }

    customers = responses[("/api/v1/customers/", "post")]["201"]["links"]
    webhooks = responses[("/api/v1/webhooks/", "post")]["201"]["links"]
    templates = responses[("/api/v1/templates/", "post")]["201"]["links"]
    send = responses[("/api/v1/notifications/send/", "post")]["202"]["links"]

    assert {"v1_customers_preferences_update", "v1_customers_telegram_link_create"} <= set(customers)
    assert customers["v1_customers_retrieve"]["parameters"] == {"customer_id": "$response.body#/id"}
    assert {
        "v1_webhooks_rotate_secret_create",
        "v1_webhooks_test_create",
        "v1_webhooks_attempts_list",
    } <= set(webhooks)
    assert templates["v1_templates_versions_restore_create"]["parameters"] == {
        "template_id": "$response.body#/id",
        "version": "$response.body#/version",
    }
    assert set(send) == {"v1_notifications_status_retrieve"}


def test_request_bodies_refuse_what_the_server_refuses() -> None:
    components = raw_schema()["components"]["schemas"]

    for name, component in components.items():
        if name.endswith("Request") and "properties" in component:
            assert component["additionalProperties"] is False, name
    send = components["SendInputRequest"]
    assert len(send["oneOf"]) == 2  # either template or message
    assert send["properties"]["message"]["pattern"].startswith("^[^\\x00]*")  # no NUL, not blank
    quiet = components["QuietHoursRequest"]["properties"]["start"]
    assert quiet["pattern"] == "^([01][0-9]|2[0-3]):[0-5][0-9]$"
    assert components["TemplateInputRequest"]["properties"]["body_html"]["maxLength"] * 6 < 1024 * 1024


def test_the_not_blank_pattern_refuses_exactly_what_drf_trims_to_nothing() -> None:
    """The pattern spells out Python's whitespace (what DRF strips), which ECMA-262's `\\s` does not."""
    import re
    import sys

    from apps.api_gateway.json_values import NON_BLANK

    whitespace = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    assert all(not re.match(NON_BLANK, c * 2) for c in whitespace)
    assert all(re.match(NON_BLANK, f" {c}x") for c in whitespace)
    assert re.match(NON_BLANK, "\u200b")
    assert not re.match(NON_BLANK, "a\x00b")
