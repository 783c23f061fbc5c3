"""The in-app inbox as a channel: a message is sent once it is stored in the customer's inbox and
published to the live streams (apps/inbox). No provider, no rate limit; a chunk is one transaction."""

import logging
import time
from collections.abc import Callable
from typing import ClassVar

from django.db import DatabaseError
from django.utils import timezone

from apps.inbox.services import InboxMessage, inbox_store
from apps.notifications.channels.base import Channel, OutgoingMessage, Sent, TransientError

logger = logging.getLogger(__name__)


class InAppChannel(Channel):
    name = "in_app"
    # Only for customers whose `channels` name it: it needs no contact point, so it is never a default.
    opt_in: ClassVar[bool] = True
    soundless: ClassVar[bool] = True

    def is_configured(self) -> bool:
        return True

    def send(self, message: OutgoingMessage) -> str:
        sent = self.send_many([message])[0]
        if sent is not None and sent.error is not None:
            raise sent.error
        return sent.provider_id if sent is not None else ""

    def send_many(
        self, messages: list[OutgoingMessage], *, stop: Callable[[Sent], bool] | None = None
    ) -> list[Sent | None]:
        started_at, started = timezone.now(), time.perf_counter()
        try:
            items = inbox_store([_inbox_message(m) for m in messages])
        except DatabaseError as exc:
            logger.warning("inbox items not stored: %s", exc)
            error = TransientError(f"The inbox could not be written: {exc}", code="inbox_unavailable")
            took = int((time.perf_counter() - started) * 1000)
            return [Sent(error=error, started_at=started_at, duration_ms=took) for _ in messages]
        took = int((time.perf_counter() - started) * 1000)
        return [
            Sent(provider_id=f"inbox:{items[m.delivery_id]}", started_at=started_at, duration_ms=took)
            for m in messages
        ]


def _inbox_message(message: OutgoingMessage) -> InboxMessage:
    return InboxMessage(
        delivery_id=message.delivery_id,
        notification_id=message.notification_id,
        customer_id=message.customer_id,
        category=message.category,
        subject=message.subject,
        body=message.body_plain or message.body,
    )
