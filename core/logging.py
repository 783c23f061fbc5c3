"""Logging context: the request id that follows a request into its Celery tasks, and secret redaction.

Every log record gets `request_id` (or "-"); every handler masks configured secrets (the Telegram bot
token sits in Bot API URLs that HTTP clients like to log) before anything is written.
"""

import contextvars
import logging
import re
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# Path segments that are credentials (the unsubscribe link's signed token), masked wherever a path is
# logged: Django's "Bad Request: /unsubscribe/..." lines here, gunicorn's access log (config/gunicorn.py).
SECRET_IN_PATH = re.compile(r"(/unsubscribe/)[^/?\s\"']+")


def paths_mask(text: str) -> str:
    return SECRET_IN_PATH.sub(r"\1***", text)


def request_id_from(value: str | None) -> str:
    """A caller's X-Request-ID when it is safe to log, else a new one."""
    if value and _VALID_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class RedactSecretsFilter(logging.Filter):
    """Replace secret values and credentials in paths in the final message (arguments included) and in
    exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets()
        message = record.getMessage()
        redacted = paths_mask(_redact(message, secrets))
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _redact(record.exc_text, secrets)
        return True


def _secrets() -> list[str]:
    from django.conf import settings

    if not settings.configured:
        return []
    values = [
        getattr(settings, name, "") for name in ("TELEGRAM_BOT_TOKEN", "EMAIL_HOST_PASSWORD", "METRICS_TOKEN")
    ]
    return [str(v) for v in values if v and len(str(v)) >= 6]


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return paths_mask(text)
