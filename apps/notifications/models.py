"""Notification templates, notifications, their deliveries (the outbox) and every delivery attempt."""

from datetime import datetime

from django.db import models
from django.utils import timezone

from apps.customers.models import Category, Customer

# The suppression list and the providers' tracking events live in their own module.
from apps.notifications.tracking_models import ProviderEvent as ProviderEvent
from apps.notifications.tracking_models import Suppression as Suppression
from apps.notifications.tracking_models import SuppressionReason as SuppressionReason


class Event(models.TextChoices):
    ORDER_CREATED = "order_created", "Order created"
    ORDER_STATUS_CHANGED = "order_status_changed", "Order status changed"
    CUSTOM = "custom", "Custom (API send)"
    DIGEST = "digest", "Digest (messages collected in a window)"


class Strategy(models.TextChoices):
    ALL = "all", "Every accepted channel"
    FAILOVER = "failover", "First channel, next on permanent failure"


class Priority(models.TextChoices):
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"


def delivery_priority(priority: str) -> int:
    """A delivery's place in its channel's queue: order updates (high) before bulk sends (normal)."""
    return 0 if priority == Priority.HIGH else 1


class NotificationStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled (waiting for send_at)"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    PARTIALLY_SENT = "partially_sent", "Partially sent"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed"
    CANCELLED = "cancelled", "Cancelled"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled before it was handed to a provider"
    # After `sent`, from the provider's tracking events (email service providers: DESIGN section 13).
    DELIVERED = "delivered", "Delivered (the provider confirmed it)"
    BOUNCED = "bounced", "Bounced (the provider could not deliver it after accepting it)"


# How the notification's strategy counts a delivery: `delivered` as sent, `bounced` as failed.
STRATEGY_STATUS: dict[str, str] = {
    DeliveryStatus.DELIVERED: DeliveryStatus.SENT,
    DeliveryStatus.BOUNCED: DeliveryStatus.FAILED,
}


# Waiting in the outbox for a drain to claim them (first attempt, or a retry).
WAITING_DELIVERY_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)
# Not final yet: waiting, or claimed by a drain.
PENDING_DELIVERY_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)


class SkipReason(models.TextChoices):
    NOT_CONFIGURED = "channel not configured", "Channel not configured"
    NO_CONTACT = "no contact point", "No contact point"
    OPTED_OUT = "opted out", "Opted out"
    DUPLICATE = "duplicate", "Duplicate"
    SUPERSEDED = "superseded", "Superseded by a newer status of the order"
    RATE_LIMITED = "rate_limited", "Customer's hourly cap reached"
    UNREACHABLE = "contact unreachable", "Contact unreachable (e.g. bot blocked)"
    CIRCUIT_OPEN = "circuit open", "Channel circuit open (failover)"
    SUPPRESSED = "suppressed", "Address on the suppression list"


class NotificationTemplate(models.Model):
    """One message per (key, channel, language); `key` is an event such as `order_created` or
    `order_shipped` (order_<status>), or any name an API send refers to."""

    key = models.CharField(max_length=64)
    channel = models.CharField(max_length=32)
    language = models.CharField(max_length=8, default="en")
    subject = models.CharField(max_length=255, blank=True, help_text="Email subject (a template too).")
    body_text = models.TextField(help_text="Plain text; for Telegram, HTML-escaped and sent in HTML mode.")
    body_html = models.TextField(blank=True, help_text="Email HTML alternative; values are autoescaped.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("key", "channel", "language")
        constraints = [
            models.UniqueConstraint(
                fields=["key", "channel", "language"], name="template_key_channel_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} / {self.channel} / {self.language}"


class TemplateVersion(models.Model):
    """A template's content as it was after each change (the current one included), numbered from 1."""

    template = models.ForeignKey(NotificationTemplate, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("template", "-version")
        constraints = [
            models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.version}"


class Notification(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notifications")
    order_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    event = models.CharField(max_length=32, choices=Event.choices)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.MARKETING)
    template_key = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict, blank=True)
    channels = models.JSONField(default=list, help_text="Channels in the order the strategy tries them.")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.ALL)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.QUEUED, db_index=True
    )
    dedup_key = models.CharField(max_length=128, null=True, blank=True, unique=True)
    api_key = models.ForeignKey("api_gateway.ApiKey", null=True, blank=True, on_delete=models.SET_NULL)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(
        max_length=64, blank=True, default="", help_text="X-Request-ID of the request that caused it."
    )
    send_at = models.DateTimeField(null=True, blank=True, help_text="Scheduled: not sent before this.")
    cancellation_key = models.CharField(
        max_length=200, blank=True, default="", help_text="Cancels it with others of its API key."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="notification_idempotency_per_api_key",
            )
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="notification_history"),
            models.Index(fields=["customer", "-created_at"], name="notification_customer_history"),
            models.Index(
                fields=["api_key", "cancellation_key"],
                name="notification_cancellation",
                condition=~models.Q(cancellation_key=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.pk} for customer {self.customer_id}"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    """The predicates the engine, the sweep and the metrics share."""

    def waiting(self) -> "DeliveryQuerySet":
        """Waiting for a drain to claim them (due now or later)."""
        return self.filter(status__in=WAITING_DELIVERY_STATUSES)

    def due(self, moment: datetime | None = None) -> "DeliveryQuerySet":
        """Waiting and due at `moment` (now)."""
        return self.waiting().filter(next_attempt_at__lte=moment or timezone.now())

    def pending(self) -> "DeliveryQuerySet":
        """Not final yet."""
        return self.filter(status__in=PENDING_DELIVERY_STATUSES)


class Delivery(models.Model):
    """One message to one channel; the rows are the outbox that workers and the sweep drain."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=32)
    address = models.CharField(max_length=254, blank=True, help_text="Contact point when it was created.")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    priority = models.PositiveSmallIntegerField(default=1, help_text="0: order updates first; 1: the rest.")
    skip_reason = models.CharField(max_length=32, choices=SkipReason.choices, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True, help_text="Rendered text (escaped HTML for Telegram).")
    body_plain = models.TextField(blank=True, help_text="Rendered text without escaping (fallback).")
    body_html = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64, blank=True, help_text="Hash of the rendered message.")
    attempts = models.PositiveIntegerField(default=0, help_text="Provider calls made.")
    throttled_attempts = models.PositiveIntegerField(
        default=0, help_text="Provider calls answered 429; they do not count against max_attempts."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    send_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Scheduled: holds back no other message to its recipient before this.",
    )
    digest_window = models.ForeignKey(
        "DigestWindow",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        help_text="Held for (then covered by) this window's digest instead of going on its own.",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While sending: the claim's lease; past it, the drain died."
    )
    provider_message_id = models.CharField(max_length=255, blank=True)
    provider = models.CharField(max_length=32, blank=True, help_text="The provider last used (email).")
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ("id",)
        verbose_name_plural = "deliveries"
        indexes = [
            # The claim and the outbox sweep look for due, unfinished deliveries.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="delivery_due",
                condition=models.Q(status__in=["queued", "retrying", "sending"]),
            ),
            models.Index(fields=["channel", "status"], name="delivery_channel_status"),
            # The batch claim: due deliveries of one channel in the order they go out.
            models.Index(
                fields=["channel", "priority", "next_attempt_at", "id"],
                name="delivery_claim_order",
                condition=models.Q(status__in=["queued", "retrying"]),
            ),
            # Per-recipient order: is an earlier message to this address still waiting?
            models.Index(
                fields=["channel", "address", "id"],
                name="delivery_recipient_pending",
                condition=models.Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["content_hash", "created_at"], name="delivery_dedup"),
            # Tracking events find their delivery by the id the provider gave the message.
            models.Index(
                fields=["provider_message_id"],
                name="delivery_provider_message",
                condition=~models.Q(provider_message_id=""),
            ),
            # Claims whose lease ran out (their drain died), per channel.
            models.Index(
                fields=["channel", "lease_until"],
                name="delivery_lease",
                condition=models.Q(status="sending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery #{self.pk} ({self.status})"


class DigestWindowStatus(models.TextChoices):
    OPEN = "open", "Open: collecting messages"
    CLOSED = "closed", "Closed: its digest was made (or nothing was left to send)"


class DigestWindow(models.Model):
    """One window of a customer's digest for a category and channel (DESIGN section 14). At most one
    is open per (customer, category, channel); the drain that closes it makes the digest notification
    (`digest`), whose one delivery carries the held deliveries' messages; they follow its outcome."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="digest_windows")
    category = models.CharField(max_length=32, choices=Category.choices)
    channel = models.CharField(max_length=32)
    closes_at = models.DateTimeField()
    status = models.CharField(
        max_length=8, choices=DigestWindowStatus.choices, default=DigestWindowStatus.OPEN
    )
    digest = models.OneToOneField(
        Notification, null=True, blank=True, on_delete=models.SET_NULL, related_name="digest_window"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("closes_at", "id")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "category", "channel"],
                condition=models.Q(status="open"),
                name="digest_window_one_open",
            )
        ]
        indexes = [
            models.Index(
                fields=["channel", "closes_at"], name="digest_window_due", condition=models.Q(status="open")
            )
        ]

    def __str__(self) -> str:
        return f"{self.category}/{self.channel} digest of customer {self.customer_id} ({self.status})"


class AttemptOutcome(models.TextChoices):
    SENT = "sent", "Sent"
    TRANSIENT_ERROR = "transient_error", "Transient error"
    PERMANENT_ERROR = "permanent_error", "Permanent error"
    RATE_LIMITED = "rate_limited", "Rate limited by the provider"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    provider = models.CharField(max_length=32, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    error_code = models.CharField(max_length=64, blank=True)
    error_text = models.TextField(blank=True)

    class Meta:
        ordering = ("started_at", "id")

    def __str__(self) -> str:
        return f"{self.outcome} at {self.started_at:%H:%M:%S}"
