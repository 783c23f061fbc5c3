"""Events the notifications app publishes on the in-process bus, after the change is committed."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryFailed:
    """A delivery ended `failed`: its retry budget is spent or the provider refused it for good."""

    delivery_id: int
    notification_id: int
    channel: str
    error: str
    attempts: int
