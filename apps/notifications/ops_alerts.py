"""Operator alerts: failed deliveries reported to OPS_ALERT_CHANNEL: `telegram` (the operators' chat,
TELEGRAM_CHAT_ID, over the bot; the default when both are set) or `apprise` (Slack, Discord, Matrix,
ntfy, email and more).

Alerts are a side channel, not notifications: they are not written to the outbox, and a burst of
failures of one kind sends one alert per OPS_ALERT_INTERVAL (a shared Redis key decides), so an
outage of a provider does not page anyone a thousand times.
"""

import logging

from django.conf import settings
from django.utils.html import escape

from apps.notifications import dispatch
from apps.notifications.channels import OutgoingMessage, TransientError, channel_factory
from apps.notifications.events import DeliveryFailed
from core.patterns.rate_limit import RateLimitUnavailable
from core.utils.redis import first_claim

logger = logging.getLogger(__name__)


def _alert_address(channel: str) -> str:
    """Where on `channel` operators read alerts: the operators' chat on Telegram; Apprise has its URLs."""
    return str(settings.TELEGRAM_CHAT_ID) if channel == "telegram" else ""


def on_delivery_failed(event: DeliveryFailed) -> None:
    target = settings.OPS_ALERT_CHANNEL
    if not target or target not in channel_factory.names():
        return
    # A failure of the alert channel itself is only worth an alert when alerts go elsewhere than the
    # failing contact: a customer's Telegram chat blocking the bot says nothing about the operators'.
    if event.channel == target and not _alert_address(target):
        return
    code = event.error.split(":", 1)[0] or "error"
    if not first_claim(f"opsalert:{event.channel}:{code}", int(settings.OPS_ALERT_INTERVAL)):
        return
    subject = f"Delivery failed on {event.channel}: {code}"
    body = (
        f"Delivery #{event.delivery_id} (notification #{event.notification_id}) failed after "
        f"{event.attempts} attempt(s): {event.error}\n"
        f"Further '{code}' failures on {event.channel} are not reported for "
        f"{int(settings.OPS_ALERT_INTERVAL)} s; see the dashboard or GET /api/v1/notifications/dead-letters/."
    )
    dispatch.ops_alert_enqueue(channel=target, subject=subject, body=body)


def ops_alert_send(*, channel: str, subject: str, body: str) -> None:
    """Send one alert. Waiting for a rate-limit slot is a transient error: the task retries later."""
    address = _alert_address(channel)
    # `body` is what HTML channels (Telegram) show, with the subject as a heading; Apprise and email
    # take the subject and body_plain apart.
    html = f"<b>{escape(subject)}</b>\n\n{escape(body)}"
    message = OutgoingMessage(address=address, subject=subject, body=html, body_plain=body)
    sender = channel_factory.get(channel)
    try:
        wait = sender.reserve(address)
    except RateLimitUnavailable:
        wait = 0.0  # an alert is rare: sending it beats losing it while the limiter's store is down
    if wait > 0:
        raise TransientError("Waiting for a rate-limit slot", code="rate_limited", retry_after=wait)
    sender.send(message)
