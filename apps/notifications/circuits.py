"""One circuit breaker per channel, configured from settings, state in Redis."""

from django.conf import settings

from apps.notifications.channels.email_providers import email_providers
from core.patterns.circuit_breaker import CircuitBreaker

_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(channel: str) -> CircuitBreaker:
    breaker = _breakers.get(channel)
    if breaker is None or (
        breaker.failure_threshold,
        breaker.reset_timeout,
    ) != (settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_RESET_TIMEOUT):
        breaker = CircuitBreaker(
            channel,
            failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
            reset_timeout=settings.CIRCUIT_RESET_TIMEOUT,
        )
        _breakers[channel] = breaker
    return breaker


def provider_breakers(channel: str = "email") -> dict[str, CircuitBreaker]:
    """`email:<name>` -> the circuit of each email provider; with one provider, the channel's own
    circuit is that provider's (the channel consults no other)."""
    providers = email_providers()
    if len(providers) == 1:
        return {f"{channel}:{providers[0].name}": breaker_for(channel)}
    return {f"{channel}:{p.name}": breaker_for(f"{channel}:{p.name}") for p in providers}
