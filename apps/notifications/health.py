"""The channels' part of /health/: whether each channel is configured and the state of its circuit
(registered with the gateway's /health/ in this app's ready()); each email provider's circuit as
`email:<name>`."""

from typing import Any

from apps.notifications.channels import channel_factory
from apps.notifications.channels.email_providers import email_providers
from apps.notifications.circuits import breaker_for, provider_breakers
from core.patterns.circuit_breaker import CLOSED


def check_channels() -> dict[str, Any]:
    channels = {}
    for name in channel_factory.names():
        try:
            configured = channel_factory.get(name).is_configured()
        except Exception:
            configured = False
        channels[name] = {"configured": configured, "circuit": breaker_for(name).state()}
    if "email" in channels:
        kinds = {f"email:{p.name}": p.kind for p in email_providers()}
        for name, breaker in provider_breakers().items():
            channels[name] = {
                "configured": channels["email"]["configured"],
                "circuit": breaker.state(),
                "provider": kinds[name],
            }
    return channels


def channels_degrade(channels: dict[str, Any]) -> bool:
    """A channel whose circuit is not closed makes the service `degraded`."""
    return any(c["circuit"] != CLOSED for c in channels.values())
