"""The in-app inbox: one item per in_app delivery, and the events the live stream sends.

Every event (a new item, new counts) is a row of InboxEvent, numbered by one sequence: its id is the
SSE `id:`, so a reconnecting browser's Last-Event-ID names a place in that sequence, and the replay
reads what followed it from here. Redis only carries the same rows to the stream processes faster.
"""

from django.db import models


class InboxItem(models.Model):
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="inbox_items")
    notification = models.ForeignKey(
        "notifications.Notification", on_delete=models.CASCADE, related_name="inbox_items"
    )
    # The in_app delivery this item is: a delivery sent again (a worker killed after storing it) finds
    # its item instead of making a second one.
    delivery_id = models.BigIntegerField(unique=True)
    category = models.CharField(max_length=32)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField()
    seen_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-id",)
        indexes = [models.Index(fields=["customer", "-id"], name="inbox_item_customer")]

    def __str__(self) -> str:
        return f"Inbox item {self.pk} of customer {self.customer_id}"


class InboxEventKind(models.TextChoices):
    NOTIFICATION = "notification", "A new inbox item"
    COUNTS = "counts", "The unseen and unread counts after a change"


class InboxEvent(models.Model):
    customer_id = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=InboxEventKind.choices)
    data = models.JSONField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ("id",)
        indexes = [models.Index(fields=["customer_id", "id"], name="inbox_event_customer")]

    def __str__(self) -> str:
        return f"{self.kind} event {self.pk} of customer {self.customer_id}"
