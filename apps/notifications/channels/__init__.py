"""Delivery channels, built by `channel_factory` from NOTIFICATION_CHANNELS."""

from django.conf import settings

from apps.notifications.channels.base import (
    Channel,
    ChannelError,
    OutgoingMessage,
    PermanentError,
    Sent,
    TransientError,
)
from core.patterns.factory import PluginFactory

channel_factory: PluginFactory[Channel] = PluginFactory(lambda: dict(settings.NOTIFICATION_CHANNELS))
# The configured channel names as API choices (one ChannelEnum in the OpenAPI schema).
CHANNEL_CHOICES = list(settings.NOTIFICATION_CHANNELS)

__all__ = [
    "CHANNEL_CHOICES",
    "Channel",
    "ChannelError",
    "OutgoingMessage",
    "PermanentError",
    "Sent",
    "TransientError",
    "channel_factory",
]
