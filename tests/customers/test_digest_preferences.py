"""The digest preference: what the API accepts, and when a window closes (DST included)."""

from datetime import UTC, datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.customers.digests import digest_parse
from tests.conftest import error_of


@pytest.fixture
def customer(make_customer: Any) -> dict[str, Any]:
    return dict(make_customer(name="Ada", email="ada@example.com", telegram_chat_id=42))


def url(customer: dict[str, Any]) -> str:
    return f"/api/v1/customers/{customer['id']}/preferences/"


@pytest.mark.django_db
def test_digest_specs_are_stored_and_shown(api: APIClient, customer: dict[str, Any]) -> None:
    digest = {
        "marketing": {"email": "daily@18:30", "telegram": "hourly"},
        "order_updates": {"email": "every:60"},
    }

    response = api.put(url(customer), {"digest": digest}, format="json")

    assert response.status_code == 200
    assert response.json()["digest"] == digest
    assert api.get(url(customer)).json()["digest"] == digest
    assert api.put(url(customer), {}, format="json").json()["digest"] == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "digest",
    [
        {"marketing": {"email": "every:4"}},
        {"marketing": {"email": "every:05"}},
        {"marketing": {"email": "daily@24:00"}},
        {"marketing": {"email": "daily@9:00"}},
        {"marketing": {"email": "weekly"}},
        {"marketing": {"email": 3600}},
        {"marketing": {"sms": "hourly"}},
        {"newsletters": {"email": "hourly"}},
        {"marketing": "hourly"},
        ["hourly"],
    ],
)
def test_a_digest_spec_that_is_not_one_is_400(api: APIClient, customer: dict[str, Any], digest: Any) -> None:
    response = api.put(url(customer), {"digest": digest}, format="json")

    assert response.status_code == 400
    assert "digest" in error_of(response)["details"]


BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("spec", "opened", "closes"),
    [
        ("every:5", datetime(2026, 6, 1, 10, 0, 0, tzinfo=UTC), datetime(2026, 6, 1, 10, 0, 5, tzinfo=UTC)),
        ("hourly", datetime(2026, 6, 1, 10, 20, tzinfo=UTC), datetime(2026, 6, 1, 11, 20, tzinfo=UTC)),
        # 18:30 in Berlin (summer, UTC+2) later the same day; after it, the next day's.
        ("daily@18:30", datetime(2026, 6, 1, 10, 0, tzinfo=UTC), datetime(2026, 6, 1, 16, 30, tzinfo=UTC)),
        ("daily@18:30", datetime(2026, 6, 1, 17, 0, tzinfo=UTC), datetime(2026, 6, 2, 16, 30, tzinfo=UTC)),
        # 02:30 does not exist on 29 March 2026 in Berlin: the window closes at the jump (01:00 UTC).
        ("daily@02:30", datetime(2026, 3, 28, 23, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # 02:30 happens twice on 25 October 2026: the first one closes it.
        ("daily@02:30", datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_when_a_window_closes(spec: str, opened: datetime, closes: datetime) -> None:
    parsed = digest_parse(spec)

    assert parsed is not None
    assert parsed.closes(opened, BERLIN) == closes
