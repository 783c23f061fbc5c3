"""Apprise channel: one message to every service in APPRISE_URLS (Slack, Discord, Matrix, ntfy, a
JSON webhook, mailto: and about a hundred more), for operators rather than customers.

Apprise reports only success or failure, not why, so every failure counts as transient and the
usual retry budget decides when to give up.
"""

from typing import Any

from django.conf import settings

from apps.notifications.channels.base import Channel, OutgoingMessage, PermanentError, TransientError


class AppriseChannel(Channel):
    name = "apprise"
    for_customers = False

    def __init__(self) -> None:
        self._apprise: Any = None
        self._urls: list[str] = []

    def is_configured(self) -> bool:
        return bool(settings.APPRISE_URLS)

    def _targets(self) -> Any:
        import apprise

        urls = list(settings.APPRISE_URLS)
        if self._apprise is None or urls != self._urls:
            targets = apprise.Apprise()
            for url in urls:
                if not targets.add(url):
                    raise PermanentError("APPRISE_URLS holds a URL Apprise cannot use", code="apprise_url")
            self._apprise, self._urls = targets, urls
        return self._apprise

    def send(self, message: OutgoingMessage) -> str:
        if not self._targets().notify(title=message.subject, body=message.body_plain or message.body):
            raise TransientError("Apprise could not notify every target", code="apprise_failed")
        return ""
