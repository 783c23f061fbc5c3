"""`send_at`: when a scheduled send or broadcast goes out (DESIGN section 14)."""

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# A send_at this far in the past still means "now" (clocks of caller and service differ a little).
PAST_TOLERANCE = timedelta(seconds=60)


@extend_schema_field({"type": "string", "format": "date-time"})
class SendAtField(serializers.Field):
    """ISO 8601 with a zone (`2026-12-24T09:00:00+01:00`, `...Z`); not more than 60 s ago, nor more
    than NOTIFICATION_SCHEDULE_MAX_DAYS ahead. Given without a zone it is refused, not guessed."""

    default_error_messages = {
        "invalid": "Give an ISO 8601 date and time with a zone, e.g. 2026-12-24T09:00:00+01:00.",
        "naive": "Give the time zone too (an offset such as +01:00, or Z for UTC).",
        "past": "This moment is more than 60 seconds in the past.",
        "too_far": "At most {days} days ahead.",
    }

    def to_internal_value(self, data: Any) -> datetime:
        try:
            moment = parse_datetime(data) if isinstance(data, str) else None
        except ValueError:  # well-formed but impossible, as 2026-02-30
            moment = None
        if moment is None:
            self.fail("invalid")
        if moment.tzinfo is None:
            self.fail("naive")
        now = timezone.now()
        if moment < now - PAST_TOLERANCE:
            self.fail("past")
        days = settings.NOTIFICATION_SCHEDULE_MAX_DAYS
        if moment > now + timedelta(days=days):
            self.fail("too_far", days=days)
        return moment

    def to_representation(self, value: datetime) -> str:
        return serializers.DateTimeField().to_representation(value)
