"""Customers and their contact points; `channels` lists the channels they accept, in preference order.

Preferences refine that per category of message (order updates, marketing): `preferences` maps a
category to the channels switched off or on for it; a channel not named there is on. Quiet hours are
a local time range in the customer's time zone.
"""

import functools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

# Numeric chat ids (negative for groups) or a public @username, as Telegram accepts them.
TELEGRAM_CHAT_ID_PATTERN = r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()-]{3,23}[0-9()-]$"  # no trailing space: the API trims it
telegram_chat_id_validator = RegexValidator(
    TELEGRAM_CHAT_ID_PATTERN,
    "Enter an integer chat id or an @username.",
    code="invalid_telegram_chat_id",
)
phone_validator = RegexValidator(
    PHONE_PATTERN, "Enter a phone number such as +49 30 1234567.", code="invalid_phone"
)

# Which contact field a channel needs; a channel missing here needs no contact point.
CHANNEL_CONTACT_FIELDS = {"telegram": "telegram_chat_id", "email": "email"}
# Order used when a customer does not state a preference (docs/design.md, "Customers").
DEFAULT_CHANNEL_ORDER = ("telegram", "email")
# The in-app inbox reaches a customer by their id: a customer whose `channels` name it needs no
# other contact point.
IN_APP = "in_app"


class Category(models.TextChoices):
    """What a message is about; customers choose channels per category."""

    ORDER_UPDATES = "order_updates", "Order updates"
    MARKETING = "marketing", "Marketing"


@functools.cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def configured_channel_names() -> list[str]:
    return list(settings.NOTIFICATION_CHANNELS)


def local_moment(day: date, wall: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """The first moment a clock in `zone` shows `wall` on `day`; when a spring night skips it, the
    moment the clock jumps past it (zoneinfo alone would put it an hour late)."""
    first = datetime.combine(day, wall, tzinfo=zone)  # fold 0: the first of a repeated time
    naive = first.replace(tzinfo=None)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return first
    moment = first.replace(fold=1).astimezone(UTC)  # the skipped time read with the later offset
    while moment.astimezone(zone).replace(tzinfo=None) < naive:
        moment += timedelta(minutes=1)
    return moment.astimezone(zone)


class Customer(models.Model):
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True, validators=[phone_validator])
    telegram_chat_id = models.CharField(max_length=64, blank=True, validators=[telegram_chat_id_validator])
    language = models.CharField(max_length=8, default="en")
    channels = models.JSONField(default=list, blank=True)
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    # Channels whose contact point the provider refused for good (e.g. the bot was blocked);
    # cleared when that contact point changes.
    unreachable_channels = models.JSONField(default=list, blank=True)
    # {category: {channel: bool}}; a missing entry means "on".
    preferences = models.JSONField(default=dict, blank=True)
    digests = models.JSONField(
        default=dict, blank=True, help_text="{category: {channel: hourly | daily@HH:MM | every:<seconds>}}"
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.name} <{self.email or self.telegram_chat_id or self.phone}>"

    def contact_for(self, channel: str) -> str:
        if channel == IN_APP:
            return str(self.pk or "")
        field = CHANNEL_CONTACT_FIELDS.get(channel)
        return str(getattr(self, field)) if field else ""

    def default_channels(self) -> list[str]:
        configured = configured_channel_names()
        return [c for c in DEFAULT_CHANNEL_ORDER if c in configured and self.contact_for(c)]

    def accepts(self, category: str, channel: str) -> bool:
        return bool(self.preferences.get(category, {}).get(channel, True))

    def digest_for(self, category: str, channel: str) -> str:
        """The digest spec for messages of `category` on `channel`, "" when they go one by one."""
        return str((self.digests or {}).get(category, {}).get(channel, ""))

    def quiet_hours_end_after(self, moment: datetime) -> datetime | None:
        """The end of the quiet hours `moment` falls in (in UTC), or None outside them.

        A range may cross midnight (22:00-07:00). Local times follow the customer's time zone, so the
        end moves with daylight saving time like the customer's clock does.
        """
        start, end = self.quiet_hours_start, self.quiet_hours_end
        if start is None or end is None or start == end:
            return None
        zone = zoneinfo.ZoneInfo(self.time_zone)
        local = moment.astimezone(zone)
        now = local.time().replace(tzinfo=None)
        if start < end:
            inside, end_day = start <= now < end, local.date()
        else:
            inside = now >= start or now < end
            end_day = local.date() + timedelta(days=1) if now >= start else local.date()
        if not inside:
            return None
        ends = local_moment(end_day, end, zone)
        if ends <= moment:  # in the repeated hour of an autumn night, after the first `end`
            ends = datetime.combine(end_day, end, tzinfo=zone).replace(fold=1)
        return ends.astimezone(UTC)  # in UTC: == between zones is False for a time of the repeated hour

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        in_app = isinstance(self.channels, list) and IN_APP in self.channels
        if not (self.email or self.phone or self.telegram_chat_id or in_app):
            errors["__all__"] = ValidationError(
                "Give at least one contact point: email, phone or telegram_chat_id, or 'in_app' in channels.",
                code="no_contact_point",
            )
        if self.language not in settings.NOTIFICATION_LANGUAGES:
            errors["language"] = ValidationError(
                f"Unsupported language; choose one of {', '.join(settings.NOTIFICATION_LANGUAGES)}.",
                code="invalid_language",
            )
        if self.time_zone not in available_time_zones():
            errors["time_zone"] = ValidationError(
                "Unknown time zone; give an IANA name such as Europe/Berlin.", code="invalid_time_zone"
            )
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            errors["quiet_hours"] = ValidationError("Give both start and end, or neither.", code="invalid")
        elif self.quiet_hours_start is not None and self.quiet_hours_start == self.quiet_hours_end:
            errors["quiet_hours"] = ValidationError("Start and end must differ.", code="invalid")
        if not isinstance(self.channels, list) or not all(isinstance(c, str) for c in self.channels):
            errors["channels"] = ValidationError("Give a list of channel names.", code="invalid")
        else:
            errors.update(self._channel_errors())
        if errors:
            raise ValidationError(errors)

    def _channel_errors(self) -> dict[str, ValidationError]:
        configured = configured_channel_names()
        problems = []
        if len(set(self.channels)) != len(self.channels):
            problems.append(ValidationError("Each channel may appear once.", code="invalid_channel"))
        for channel in self.channels:
            if channel not in configured:
                message = f"'{channel}' is not a configured channel ({', '.join(configured)})."
                problems.append(ValidationError(message, code="invalid_channel"))
            elif channel in CHANNEL_CONTACT_FIELDS and not self.contact_for(channel):
                message = f"'{channel}' needs {CHANNEL_CONTACT_FIELDS[channel]}."
                problems.append(ValidationError(message, code="channel_without_contact"))
        return {"channels": ValidationError(problems)} if problems else {}


class TelegramLink(models.Model):
    """A one-time token in a t.me deep link: whoever starts the bot with it links their chat to the
    customer. Only a hash is stored, so a database dump cannot be used to link a stranger's chat."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="telegram_links")
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    chat_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Telegram link for customer {self.customer_id}"
