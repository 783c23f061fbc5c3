"""Delivery strategies (Strategy pattern): which channels a notification goes to, and in what order.

`all` sends to every channel the customer accepts at once; `failover` sends to the first one and
moves to the next only when the previous one failed permanently (or, later, its circuit is open).
"""

from dataclasses import dataclass
from typing import ClassVar

from apps.customers.models import Customer
from apps.notifications.channels import channel_factory
from apps.notifications.models import STRATEGY_STATUS, NotificationStatus, SkipReason, Strategy


@dataclass(frozen=True)
class ChannelPlan:
    channel: str
    address: str
    skip_reason: str = ""

    @property
    def eligible(self) -> bool:
        return not self.skip_reason


def channel_plan(customer: Customer, channel: str, category: str) -> ChannelPlan:
    """Whether `channel` can reach `customer` now for a message of `category`, and at which address."""
    address = customer.contact_for(channel)
    if not address:
        return ChannelPlan(channel, "", SkipReason.NO_CONTACT)
    if channel not in customer.channels or not customer.accepts(category, channel):
        return ChannelPlan(channel, address, SkipReason.OPTED_OUT)
    if channel in customer.unreachable_channels:
        return ChannelPlan(channel, address, SkipReason.UNREACHABLE)
    if channel not in channel_factory.names() or not channel_factory.get(channel).is_configured():
        return ChannelPlan(channel, address, SkipReason.NOT_CONFIGURED)
    return ChannelPlan(channel, address)


def candidate_channels(customer: Customer, requested: list[str] | None) -> list[str]:
    """Requested channels, or the customer's in preference order followed by the other known ones."""
    if requested:
        return list(dict.fromkeys(requested))
    known = [name for name in channel_factory.names() if channel_factory.get(name).for_customers]
    others = [c for c in known if c not in customer.channels and not channel_factory.get(c).opt_in]
    return [c for c in customer.channels if c in known] + others


class DeliveryStrategy:
    name: ClassVar[str]

    def plan(
        self, customer: Customer, channels: list[str], category: str, start: int = 0
    ) -> list[ChannelPlan]:
        """Deliveries to create now, from position `start` of `channels`."""
        raise NotImplementedError

    def status(self, statuses: list[str]) -> str:
        raise NotImplementedError

    def status_of(self, statuses: list[str]) -> str:
        """The notification's status; a delivery `delivered` counts as sent, `bounced` as failed."""
        return self.status([STRATEGY_STATUS.get(s, s) for s in statuses])

    @staticmethod
    def _pending(statuses: list[str]) -> bool:
        return any(s in ("queued", "sending", "retrying") for s in statuses)


class AllStrategy(DeliveryStrategy):
    name = Strategy.ALL

    def plan(
        self, customer: Customer, channels: list[str], category: str, start: int = 0
    ) -> list[ChannelPlan]:
        return [channel_plan(customer, c, category) for c in channels[start:]] if start == 0 else []

    def status(self, statuses: list[str]) -> str:
        active = [s for s in statuses if s != "skipped"]
        if not active:
            return NotificationStatus.SUPPRESSED
        if self._pending(active):
            return NotificationStatus.QUEUED
        sent = active.count("sent")
        if sent == len(active):
            return NotificationStatus.SENT
        if sent:
            return NotificationStatus.PARTIALLY_SENT
        # Nothing sent: cancelled when it was stopped, failed when a provider refused.
        return NotificationStatus.CANCELLED if "cancelled" in active else NotificationStatus.FAILED


class FailoverStrategy(DeliveryStrategy):
    name = Strategy.FAILOVER

    def plan(
        self, customer: Customer, channels: list[str], category: str, start: int = 0
    ) -> list[ChannelPlan]:
        plans = []
        for channel in channels[start:]:
            plans.append(channel_plan(customer, channel, category))
            if plans[-1].eligible:
                break
        return plans

    def status(self, statuses: list[str]) -> str:
        if "sent" in statuses:
            return NotificationStatus.SENT
        if self._pending(statuses):
            return NotificationStatus.QUEUED
        if "cancelled" in statuses:
            return NotificationStatus.CANCELLED
        if all(s == "skipped" for s in statuses):
            return NotificationStatus.SUPPRESSED
        return NotificationStatus.FAILED


STRATEGIES: dict[str, DeliveryStrategy] = {s.name: s for s in (AllStrategy(), FailoverStrategy())}
