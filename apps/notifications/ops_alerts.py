"""Operator alerts: failed deliveries reported to OPS_ALERT_CHANNEL (usually `apprise`, which reaches
Slack, Discord, Matrix, ntfy, email and more).

Alerts are a side channel, not notifications: they are not written to the outbox, and a burst of
failures of one kind sends one alert per OPS_ALERT_INTERVAL (a shared Redis key decides), so an
outage of a provider does not page anyone a thousand times.
"""

import logging

from django.conf import settings

from apps.notifications.channels import OutgoingMessage, channel_factory
from apps.notifications.events import DeliveryFailed
from core.utils.redis import get_redis

logger = logging.getLogger(__name__)


def _first_in_interval(key: str) -> bool:
    """True for the first caller per key and interval (SET NX EX); without Redis, always True."""
    client = get_redis()
    if client is None:
        return True
    try:
        return bool(client.set(f"opsalert:{key}", 1, nx=True, ex=max(1, int(settings.OPS_ALERT_INTERVAL))))
    except Exception:  # an unreadable gate must not swallow the alert
        return True


def on_delivery_failed(event: DeliveryFailed) -> None:
    target = settings.OPS_ALERT_CHANNEL
    if not target or event.channel == target or target not in channel_factory.names():
        return
    code = event.error.split(":", 1)[0] or "error"
    if not _first_in_interval(f"{event.channel}:{code}"):
        return
    from apps.notifications.tasks import ops_alert

    subject = f"Delivery failed on {event.channel}: {code}"
    body = (
        f"Delivery #{event.delivery_id} (notification #{event.notification_id}) failed after "
        f"{event.attempts} attempt(s): {event.error}\n"
        f"Further '{code}' failures on {event.channel} are not reported for "
        f"{int(settings.OPS_ALERT_INTERVAL)} s; see the dashboard or GET /api/v1/notifications/dead-letters/."
    )
    try:
        ops_alert.apply_async(args=[target, subject, body], queue="default", retry=False)
    except Exception:  # the broker is down: the failure is logged and in the dead letters anyway
        logger.warning("Could not enqueue the ops alert: %s", subject)


def ops_alert_send(*, channel: str, subject: str, body: str) -> None:
    message = OutgoingMessage(address="", subject=subject, body=body, body_plain=body)
    channel_factory.get(channel).send(message)
