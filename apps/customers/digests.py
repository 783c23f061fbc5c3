"""Digest preferences: a customer may have the messages of a category on a channel collected and sent
as one message per window (DESIGN section 14). A spec is `hourly`, `daily@HH:MM` (the customer's
local time) or `every:<seconds>` (at least 5)."""

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from apps.customers.models import local_moment

# `every:` from 5 s to 9,999,999 s (about 115 days); `daily@` at a 24-hour hh:mm.
DIGEST_PATTERN = r"^(hourly|daily@([01][0-9]|2[0-3]):[0-5][0-9]|every:([5-9]|[1-9][0-9]{1,6}))$"
DIGEST_HELP = "`hourly`, `daily@HH:MM` (local time) or `every:<seconds>` (5 or more)."


@dataclass(frozen=True)
class DigestSpec:
    every: float | None = None  # seconds from the window's first message
    daily_at: time | None = None  # local wall time the window closes at

    def closes(self, opened: datetime, time_zone: str) -> datetime:
        """When a window opened at `opened` closes: `every` seconds later, or the next `daily_at` in
        the customer's time zone after `opened` (DST-aware: a skipped time closes at the jump)."""
        if self.every is not None:
            return opened + timedelta(seconds=self.every)
        assert self.daily_at is not None  # noqa: S101  (one of the two is always set)
        zone = zoneinfo.ZoneInfo(time_zone)
        day = opened.astimezone(zone).date()
        for offset in (0, 1, 2):
            moment = local_moment(day + timedelta(days=offset), self.daily_at, zone)
            if moment > opened:
                return moment.astimezone(UTC)  # UTC: == across zones is False in a repeated hour
        raise AssertionError("unreachable: a daily time comes within two days")


def digest_parse(spec: object) -> DigestSpec | None:
    """The spec, or None when it is not one (the API answers 400)."""
    if not isinstance(spec, str) or not re.fullmatch(DIGEST_PATTERN, spec):
        return None
    if spec == "hourly":
        return DigestSpec(every=3600.0)
    if spec.startswith("every:"):
        return DigestSpec(every=float(spec.removeprefix("every:")))
    hours, minutes = spec.removeprefix("daily@").split(":")
    return DigestSpec(daily_at=time(int(hours), int(minutes)))
