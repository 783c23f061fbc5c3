"""Moments as the API and its webhooks write them: ISO 8601 in UTC with a `Z`."""

from datetime import datetime


def iso_utc(value: datetime | None) -> str | None:
    """`2026-12-05T20:41:00.123456Z` for an aware UTC datetime; None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
