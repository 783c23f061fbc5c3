"""API keys: stored hashed (SHA-512 via djangorestframework-api-key), optionally read-only."""

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


class ApiKey(AbstractAPIKey):
    can_write = models.BooleanField(
        default=True, help_text="Read-only keys may only GET; writes answer 403 permission_denied."
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
