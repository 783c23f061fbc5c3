"""One circuit breaker per channel, configured from settings, state in Redis."""

from django.conf import settings

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
