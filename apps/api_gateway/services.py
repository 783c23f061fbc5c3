"""Writes for the gateway: issuing API keys."""

from collections.abc import Iterable

from django.utils import timezone

from apps.api_gateway.models import ApiKey, WorkerHeartbeat
from apps.api_gateway.scopes import ALL_SCOPES


def api_key_create(
    *, name: str, scopes: Iterable[str] | None = None, can_write: bool = True
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is shown once and never stored. Every
    scope unless `scopes` names some; `can_write=False` (read-only) keeps only the read scopes."""
    chosen = list(ALL_SCOPES if scopes is None else scopes)
    if not can_write:
        chosen = [s for s in chosen if s.endswith(":read")]
    api_key, plaintext = ApiKey.objects.create_key(name=name, can_write=can_write, scopes=sorted(chosen))
    return api_key, plaintext  # type: ignore[return-value]


def worker_heartbeat_record(*, hostname: str) -> None:
    WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"seen_at": timezone.now()})
