"""The suppression list and the email providers' tracking events (DESIGN section 13)."""

from django.db import models


class SuppressionReason(models.TextChoices):
    BOUNCED = "bounced", "Bounced (hard bounce, invalid or inactive address, SMTP 5.1.x)"
    COMPLAINED = "complained", "The recipient reported a message as spam"
    BLOCKED = "blocked", "The recipient blocked the bot (Telegram 403)"
    MANUAL = "manual", "Added through the API or the admin"


class Suppression(models.Model):
    """An address no message goes to: its deliveries are skipped (`suppressed`) with no provider call.
    Email addresses are stored lower-case (they compare case-insensitively)."""

    channel = models.CharField(max_length=32)
    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=16, choices=SuppressionReason.choices)
    delivery = models.ForeignKey(
        "notifications.Delivery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The delivery whose outcome suppressed the address.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-id",)
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="suppression_unique")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address} ({self.reason})"


class ProviderEvent(models.Model):
    """One tracking event an email provider posted (anymail's normalised form), stored by the webhook
    view and applied to its delivery by a worker. `key` deduplicates the provider's resends: its
    event id, else the message id and the event type."""

    provider = models.CharField(max_length=32)
    key = models.CharField(max_length=300, unique=True)
    event_type = models.CharField(max_length=32)
    message_id = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    occurred_at = models.DateTimeField()
    detail = models.TextField(blank=True)
    # The provider's own words for the event (e.g. Postmark's bounce `Type`): soft or hard.
    esp_type = models.CharField(max_length=64, blank=True)
    delivery = models.ForeignKey(
        "notifications.Delivery",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="provider_events",
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("occurred_at", "id")
        indexes = [
            models.Index(
                fields=["created_at"], name="provider_event_unapplied", condition=models.Q(applied_at=None)
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} for {self.message_id}"
