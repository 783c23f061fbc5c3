"""Email channel: Django's email framework, one recipient per message, connections kept open.

A batch goes out over EMAIL_CONNECTIONS connections at once (threads, one connection each): an SMTP
send is three round trips of waiting for the server, and a process waiting on one connection can
build and send on another meanwhile. A single message uses the first connection.

Each message goes to the first of EMAIL_PROVIDERS whose circuit is closed (`email:<name>`, shared by
every worker through Redis), and on to the next at once when that provider certainly did not take it
(email_providers). With one provider (the default) no provider circuit is consulted: the channel's
own circuit in the pump is that provider's.
"""

import contextlib
import logging
import smtplib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import make_msgid

from anymail.exceptions import AnymailError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.utils import DNS_NAME
from django.utils import timezone

from apps.notifications.channels.base import (
    Channel,
    ChannelError,
    Handed,
    Hop,
    OutgoingMessage,
    Sent,
    TransientError,
    send_in_lanes,
)
from apps.notifications.channels.email_providers import (
    SMTP,
    Provider,
    classify_esp_error,
    classify_smtp_error,
    email_providers,
    move_on,
    refused_before_handover,
)
from apps.notifications.circuits import breaker_for
from core.patterns.circuit_breaker import CLOSED, CircuitBreaker

logger = logging.getLogger(__name__)

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# A lane trusts a provider circuit it saw closed for this long (a closed circuit costs no round trip
# per message), and tells a circuit that its provider answered at most this often.
CIRCUIT_RECHECK = 0.25
ANSWER_EVERY = 1.0

__all__ = ["EmailChannel", "classify_smtp_error", "unsubscribe_headers"]


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe with RFC 8058 one-click: mail clients POST to the URL themselves."""
    if not url:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


class EmailChannel(Channel):
    name = "email"
    carries_unsubscribe = True

    def __init__(self) -> None:
        self._connections: dict[str, BaseEmailBackend] = {}
        self._lanes: list[EmailChannel] = []
        self._pool: ThreadPoolExecutor | None = None
        # Per provider: when this lane last saw its circuit closed, and when it last told the circuit
        # that the provider answered (a send costs no Redis round trip while nothing fails).
        self._seen_closed: dict[str, float] = {}
        self._told_answered: dict[str, float] = {}

    def send_many(
        self, messages: list[OutgoingMessage], *, stop: Callable[[Sent], bool] | None = None
    ) -> list[Sent | None]:
        connections = max(1, settings.EMAIL_CONNECTIONS)
        lanes = min(connections, len(messages))
        if lanes <= 1:
            return super().send_many(messages, stop=stop)
        if self._pool is None or len(self._lanes) < connections:
            # Lane 0 is this channel's own connections; the others are channels of their own.
            self._lanes = [self, *(type(self)() for _ in range(connections - 1))]
            self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="smtp")
        return send_in_lanes(self._pool, self._lanes[:lanes], messages, stop)

    def is_configured(self) -> bool:
        return any(
            provider.kind != SMTP or settings.EMAIL_BACKEND != SMTP_BACKEND or bool(settings.EMAIL_HOST)
            for provider in email_providers()
        )

    def close(self) -> None:
        for lane in self._lanes[1:]:
            lane.close()
        for name in list(self._connections):
            self._close_own(name)

    def send(self, message: OutgoingMessage) -> Handed:
        """Through the providers in order: the first whose circuit is closed (the last one in any
        case: the channel's circuit guards it) takes the message, or says why it cannot."""
        providers = email_providers()
        hops: list[Hop] = []
        for index, provider in enumerate(providers):
            last = index == len(providers) - 1
            if not last and not self._circuit_allows(provider):
                continue
            started_at, started = timezone.now(), time.perf_counter()
            try:
                provider_id = self._send_via(provider, message)
            except ChannelError as error:
                if move_on(error):
                    self._provider_failed(provider)
                    if not last:
                        hops.append(Hop(provider.name, started_at, _ms_since(started), error))
                        continue
                else:
                    self._provider_answered(provider, len(providers))
                error.provider, error.hops = provider.name, tuple(hops)
                raise
            self._provider_answered(provider, len(providers))
            return Handed(provider_id, provider.name, tuple(hops))
        raise AssertionError("EMAIL_PROVIDERS is never empty")  # pragma: no cover

    # --- provider circuits ---
    def _breaker(self, provider: Provider) -> CircuitBreaker:
        return breaker_for(f"{self.name}:{provider.name}")

    def _circuit_allows(self, provider: Provider) -> bool:
        """Closed circuits are re-read at most every CIRCUIT_RECHECK seconds per lane."""
        now = time.monotonic()
        if now - self._seen_closed.get(provider.name, -CIRCUIT_RECHECK) < CIRCUIT_RECHECK:
            return True
        decision = self._breaker(provider).before_call()
        if decision.allowed and decision.state == CLOSED:
            self._seen_closed[provider.name] = now
        return decision.allowed

    def _provider_failed(self, provider: Provider) -> None:
        self._breaker(provider).record_failure()
        self._seen_closed.pop(provider.name, None)
        self._told_answered.pop(provider.name, None)

    def _provider_answered(self, provider: Provider, providers: int) -> None:
        """Reset the provider's failure count: after a failure at once, else at most every second."""
        if providers == 1:
            return
        now = time.monotonic()
        if now - self._told_answered.get(provider.name, -ANSWER_EVERY) >= ANSWER_EVERY:
            self._breaker(provider).record_success()
            self._told_answered[provider.name] = now

    # --- connections ---
    def _close_own(self, name: str) -> None:
        """Close this lane's connection to one provider (other threads send on the other lanes)."""
        connection = self._connections.pop(name, None)
        if connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError, AnymailError):
                connection.close()

    def _open(self, provider: Provider) -> BaseEmailBackend:
        """This lane's connection to the provider; failing to open one hands nothing over."""
        connection = self._connections.get(provider.name)
        if connection is None:
            try:
                connection = get_connection(provider.backend, fail_silently=False)
                connection.open()
            except (smtplib.SMTPException, OSError, AnymailError, ImproperlyConfigured, ImportError) as exc:
                code = "smtp_connection" if provider.kind == SMTP else "esp_connection"
                raise refused_before_handover(
                    f"{provider.name}: cannot connect: {exc.__class__.__name__}: {exc}", code
                ) from None
            self._connections[provider.name] = connection
        return connection

    def _send_via(self, provider: Provider, message: OutgoingMessage) -> str:
        reused = provider.name in self._connections
        try:
            return self._send(provider, message)
        except smtplib.SMTPServerDisconnected:
            self._close_own(provider.name)
            if not reused:
                raise classify_smtp_error(smtplib.SMTPServerDisconnected("disconnected")) from None
            # The server dropped an idle connection we kept: reconnect once, not a failed attempt.
        try:
            return self._send(provider, message)
        except smtplib.SMTPServerDisconnected as exc:
            self._close_own(provider.name)
            raise classify_smtp_error(exc) from None

    def _send(self, provider: Provider, message: OutgoingMessage) -> str:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body_plain,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.address],
            headers=message.headers | unsubscribe_headers(message.unsubscribe_url),
        )
        if message.body_html:
            email.attach_alternative(message.body_html, "text/html")
        # Our own Message-ID (as Django would make it) is the SMTP provider's id; building the whole
        # MIME message a second time just to read it cost as much as the send. An ESP gives its own.
        message_id = make_msgid(domain=DNS_NAME)
        email.extra_headers["Message-ID"] = message_id
        connection = self._open(provider)
        try:
            sent = connection.send_messages([email])
        except smtplib.SMTPServerDisconnected:
            raise
        except AnymailError as exc:  # before OSError: requests' errors are OSErrors too
            raise classify_esp_error(exc) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._close_own(provider.name)
            raise classify_smtp_error(exc) from None
        if not sent:
            raise TransientError("The email backend sent nothing", code="email_not_sent")
        status = getattr(email, "anymail_status", None)
        return str(status.message_id) if status is not None and status.message_id else str(message_id)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
