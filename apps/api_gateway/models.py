"""API keys: stored hashed (SHA-512 via djangorestframework-api-key), optionally read-only."""

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


def all_scopes() -> list[str]:
    from apps.api_gateway.scopes import ALL_SCOPES

    return list(ALL_SCOPES)


class ApiKey(AbstractAPIKey):
    can_write = models.BooleanField(
        default=True,
        help_text="For keys made before scopes: read-only keys may only GET. Scoped keys ignore it.",
    )
    scopes = models.JSONField(
        null=True,
        blank=True,
        default=all_scopes,
        help_text="What the key may do (api_gateway.scopes.Scope); empty: nothing. A key made before "
        "scopes existed has none stored (null) and keeps what it could do.",
    )

    objects = BaseAPIKeyManager()  # type: ignore[assignment,misc]

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class WorkerHeartbeat(models.Model):
    """Last time a Celery worker ran the heartbeat task; proves the broker-to-worker path end to end."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
