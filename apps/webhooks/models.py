"""Webhook endpoints, the outbox of events to send them, and the log of every attempt."""

from django.db import models


class EventType(models.TextChoices):
    DELIVERY_SENT = "delivery.sent", "A delivery was accepted by its provider"
    DELIVERY_FAILED = "delivery.failed", "A delivery failed for good"
    DELIVERY_SKIPPED = "delivery.skipped", "A delivery was skipped"
    DELIVERY_DELIVERED = "delivery.delivered", "The email provider confirmed a delivery"
    DELIVERY_BOUNCED = "delivery.bounced", "The email provider could not deliver a sent message"
    DELIVERY_COMPLAINED = "delivery.complained", "The recipient reported a message as spam"
    NOTIFICATION_COMPLETED = "notification.completed", "A notification reached a final status"
    WEBHOOK_TEST = "webhook.test", "A test event (sent on request)"


# Every type may be named (a client subscribing to everything the docs list names `webhook.test` too,
# which is sent on request whether subscribed or not).
SUBSCRIBABLE = list(EventType.values)


class WebhookEndpoint(models.Model):
    """A URL that receives signed events; belongs to the API key that created it."""

    api_key = models.ForeignKey(
        "api_gateway.ApiKey", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="Event types sent to this endpoint.")
    secret = models.CharField(max_length=100)
    # After a rotation the previous secret signs too, until this moment.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.url


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class WebhookMessage(models.Model):
    """One event for one endpoint: written in the transaction that caused it, sent by workers."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    message_id = models.CharField(
        max_length=40, unique=True, help_text="The webhook-id header; kept on retries."
    )
    type = models.CharField(max_length=32, choices=EventType.choices)
    body = models.JSONField()
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While sending: the claim's lease; past it, the drain died."
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        indexes = [
            models.Index(
                fields=["status", "next_attempt_at"],
                name="webhook_message_due",
                condition=models.Q(status__in=["pending", "sending"]),
            ),
            models.Index(
                fields=["lease_until"], name="webhook_message_lease", condition=models.Q(status="sending")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class WebhookAttempt(models.Model):
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempts_log")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_body = models.CharField(max_length=2000, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-at", "-id")
        indexes = [models.Index(fields=["endpoint", "-at", "-id"], name="webhook_attempt_log")]

    def __str__(self) -> str:
        return f"{self.message_id} -> {self.status_code}"
