"""Email providers (DESIGN section 13): EMAIL_PROVIDERS parsed, and what a provider's error means for
the message: retry later, move on to the next provider at once, or give up (and suppress the address).

A message moves on only when the provider certainly did not take it: the connection failed or timed
out before anything was handed over, the server answered 4xx before the message's data, the ESP
answered 429 or 5xx. A timeout after the message was handed over is in doubt (the provider may have
it): the same provider is retried later, so the customer does not get it twice.
"""

import re
import smtplib
from dataclasses import dataclass
from functools import cache

import requests
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.notifications.channels.base import ChannelError, PermanentError, TransientError

SMTP = "smtp"
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")
BACKEND = re.compile(r"^[a-z0-9_]+(\.[A-Za-z0-9_]+)*$")


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # `smtp`, an anymail ESP name (`postmark`), or a backend's dotted path

    @property
    def backend(self) -> str:
        if self.kind == SMTP:
            return settings.EMAIL_BACKEND
        return self.kind if "." in self.kind else f"anymail.backends.{self.kind}.EmailBackend"


def email_providers() -> tuple[Provider, ...]:
    return providers_parse(settings.EMAIL_PROVIDERS)


@cache
def providers_parse(value: str) -> tuple[Provider, ...]:
    """`primary=smtp,backup=postmark` -> the providers in priority order; ImproperlyConfigured if not."""
    providers: list[Provider] = []
    for item in value.split(","):
        name, _, kind = (part.strip() for part in item.strip().partition("="))
        if not NAME.match(name) or not BACKEND.match(kind):
            raise ImproperlyConfigured(
                f"EMAIL_PROVIDERS: {item.strip()!r} is not name=backend (e.g. main=smtp, backup=postmark)"
            )
        if name in {p.name for p in providers}:
            raise ImproperlyConfigured(f"EMAIL_PROVIDERS names {name!r} twice")
        providers.append(Provider(name, kind))
    return tuple(providers)


def move_on(error: ChannelError) -> bool:
    """Whether the message may go to the next provider at once (the provider certainly lacks it)."""
    return bool(error.params.get("move_on"))


def refused_before_handover(message: str, code: str) -> TransientError:
    return TransientError(message, code=code, params={"move_on": True})


def classify_smtp_error(exc: Exception) -> ChannelError:
    """RFC 5321: 4yz is transient, 5yz permanent; a dropped or refused connection is transient. A
    recipient refused with enhanced status 5.1.x (bad address) suppresses it; a 4xx before the
    message's data moves the message on to the next provider."""
    code: int | None = None
    text = str(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values())) if exc.recipients else (None, b"")
        text = f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
    if code is None or isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"SMTP connection problem: {exc}", code="smtp_connection")
    if 400 <= code < 500:
        if isinstance(exc, smtplib.SMTPDataError):
            return TransientError(text, code=f"smtp_{code}")
        return refused_before_handover(text, f"smtp_{code}")
    params = {}
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and text.split(" ", 1)[-1].lstrip().startswith("5.1."):
        params["suppress"] = "bounced"
    return PermanentError(text, code=f"smtp_{code}", params=params)


def classify_esp_error(exc: AnymailError) -> ChannelError:
    """An anymail ESP's error: refused recipients are a bounce, a connection failure, 429 or 5xx moves
    on, a read timeout is in doubt, another 4xx is permanent (the request itself is wrong)."""
    text = str(exc).split("\n", 1)[0][:500]
    if isinstance(exc, AnymailRecipientsRefused):
        return PermanentError(text, code="esp_rejected", params={"suppress": "bounced"})
    if isinstance(exc, requests.ConnectionError):  # ConnectTimeout included: nothing was sent
        return refused_before_handover(f"ESP unreachable: {text}", "esp_connection")
    if isinstance(exc, requests.Timeout):
        return TransientError(f"ESP timed out after the request was sent: {text}", code="esp_timeout")
    if isinstance(exc, AnymailRequestsAPIError) and exc.status_code is not None:
        status = int(exc.status_code)
        if status == 429 or status >= 500:
            return refused_before_handover(text, f"esp_{status}")
        return PermanentError(text, code=f"esp_{status}")
    if isinstance(exc, AnymailAPIError):
        return TransientError(text, code="esp_error")
    return PermanentError(text, code="esp_invalid")
