"""Writes for the gateway: issuing API keys."""

from django.utils import timezone

from apps.api_gateway.models import ApiKey, WorkerHeartbeat


def api_key_create(*, name: str, can_write: bool = True) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is shown once and never stored."""
    api_key, plaintext = ApiKey.objects.create_key(name=name, can_write=can_write)
    return api_key, plaintext  # type: ignore[return-value]


def worker_heartbeat_record(*, hostname: str) -> None:
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"seen_at": timezone.now()})
