"""Channels for tests of the pipeline's own error handling (not of any provider)."""

from apps.notifications.channels.base import Handed, OutgoingMessage
from apps.notifications.channels.email import EmailChannel


class ExplodingEmailChannel(EmailChannel):
    """An email channel whose send fails with an error no channel classifies: a bug."""

    def send(self, message: OutgoingMessage) -> Handed:
        raise RuntimeError("boom")
