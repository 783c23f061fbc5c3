"""Email channel: Django's email framework, one recipient per message, connections kept open.

A batch goes out over EMAIL_CONNECTIONS connections at once (threads, one connection each): an SMTP
send is three round trips of waiting for the server, and a process waiting on one connection can
build and send on another meanwhile. A single message uses the first connection.
"""

import contextlib
import logging
import smtplib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.utils import DNS_NAME

from apps.notifications.channels.base import (
    Channel,
    ChannelError,
    OutgoingMessage,
    PermanentError,
    Sent,
    TransientError,
    send_in_lanes,
)

logger = logging.getLogger(__name__)

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def classify_smtp_error(exc: Exception) -> ChannelError:
    """RFC 5321: 4yz is transient, 5yz permanent; a dropped or refused connection is transient."""
    code: int | None = None
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
    elif isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
    if code is None or isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(f"SMTP connection problem: {exc}", code="smtp_connection")
    text = str(exc)
    if 400 <= code < 500:
        return TransientError(text, code=f"smtp_{code}")
    return PermanentError(text, code=f"smtp_{code}")


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe with RFC 8058 one-click: mail clients POST to the URL themselves."""
    if not url:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


class EmailChannel(Channel):
    name = "email"
    carries_unsubscribe = True

    def __init__(self) -> None:
        self._connection: BaseEmailBackend | None = None
        self._lanes: list[EmailChannel] = []
        self._pool: ThreadPoolExecutor | None = None

    def send_many(
        self, messages: list[OutgoingMessage], *, stop: Callable[[Sent], bool] | None = None
    ) -> list[Sent | None]:
        connections = max(1, settings.EMAIL_CONNECTIONS)
        lanes = min(connections, len(messages))
        if lanes <= 1:
            return super().send_many(messages, stop=stop)
        if self._pool is None or len(self._lanes) < connections:
            # Lane 0 is this channel's own connection; the others are channels of their own.
            self._lanes = [self, *(EmailChannel() for _ in range(connections - 1))]
            self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="smtp")
        return send_in_lanes(self._pool, self._lanes[:lanes], messages, stop)

    def is_configured(self) -> bool:
        return settings.EMAIL_BACKEND != SMTP_BACKEND or bool(settings.EMAIL_HOST)

    def close(self) -> None:
        for lane in self._lanes[1:]:
            lane.close()
        self._close_own()

    def _close_own(self) -> None:
        """Close this lane's connection only (another thread may be sending on the other lanes)."""
        if self._connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.close()
            self._connection = None

    def _open(self) -> BaseEmailBackend:
        if self._connection is None:
            connection = get_connection(fail_silently=False)
            connection.open()
            self._connection = connection
        return self._connection

    def send(self, message: OutgoingMessage) -> str:
        reused = self._connection is not None
        try:
            return self._send(message)
        except smtplib.SMTPServerDisconnected:
            self._close_own()
            if not reused:
                raise classify_smtp_error(smtplib.SMTPServerDisconnected("disconnected")) from None
            # The server dropped an idle connection we kept: reconnect once, not a failed attempt.
        try:
            return self._send(message)
        except (smtplib.SMTPException, OSError) as exc:
            self._close_own()
            raise classify_smtp_error(exc) from None

    def _send(self, message: OutgoingMessage) -> str:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body_plain,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
            headers=message.headers | unsubscribe_headers(message.unsubscribe_url),
        )
        if message.body_html:
            email.attach_alternative(message.body_html, "text/html")
        # Our own Message-ID (as Django would make it) is the provider id; building the whole MIME
        # message a second time just to read it cost as much as the send.
        message_id = make_msgid(domain=DNS_NAME)
        email.extra_headers["Message-ID"] = message_id
        try:
            sent = self._open().send_messages([email])
        except smtplib.SMTPServerDisconnected:
            raise
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._close_own()
            raise classify_smtp_error(exc) from None
        if not sent:
            raise TransientError("The email backend sent nothing", code="smtp_not_sent")
        return str(message_id)
