"""Customers and their contact points; `channels` lists the channels they accept, in preference order."""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

# Numeric chat ids (negative for groups) or a public @username, as Telegram accepts them.
telegram_chat_id_validator = RegexValidator(
    r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$",
    "Enter an integer chat id or an @username.",
    code="invalid_telegram_chat_id",
)
phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ()-]{4,24}$", "Enter a phone number such as +49 30 1234567.", code="invalid_phone"
)

# Which contact field a channel needs; a channel missing here needs no contact point.
CHANNEL_CONTACT_FIELDS = {"telegram": "telegram_chat_id", "email": "email"}
# Order used when a customer does not state a preference (DESIGN section 4).
DEFAULT_CHANNEL_ORDER = ("telegram", "email")


def configured_channel_names() -> list[str]:
    return list(settings.NOTIFICATION_CHANNELS)


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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.name} <{self.email or self.telegram_chat_id or self.phone}>"

    def contact_for(self, channel: str) -> str:
        field = CHANNEL_CONTACT_FIELDS.get(channel)
        return str(getattr(self, field)) if field else ""

    def default_channels(self) -> list[str]:
        configured = configured_channel_names()
        return [c for c in DEFAULT_CHANNEL_ORDER if c in configured and self.contact_for(c)]

    def clean(self) -> None:
        errors: dict[str, Any] = {}
        if not (self.email or self.phone or self.telegram_chat_id):
            errors["__all__"] = ValidationError(
                "Give at least one contact point: email, phone or telegram_chat_id.", code="no_contact_point"
            )
        if self.language not in settings.NOTIFICATION_LANGUAGES:
            errors["language"] = ValidationError(
                f"Unsupported language; choose one of {', '.join(settings.NOTIFICATION_LANGUAGES)}.",
                code="invalid_language",
            )
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
            problems.append("Each channel may appear once.")
        for channel in self.channels:
            if channel not in configured:
                problems.append(f"'{channel}' is not a configured channel ({', '.join(configured)}).")
            elif channel in CHANNEL_CONTACT_FIELDS and not self.contact_for(channel):
                problems.append(f"'{channel}' needs {CHANNEL_CONTACT_FIELDS[channel]}.")
        return {"channels": ValidationError(problems, code="invalid_channel")} if problems else {}
