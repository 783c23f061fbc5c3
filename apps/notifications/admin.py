from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import escape, format_html

from apps.notifications.cancellation import notifications_cancel
from apps.notifications.models import (
    Delivery,
    DeliveryAttempt,
    DigestWindow,
    Notification,
    NotificationTemplate,
    ProviderEvent,
    Suppression,
    TemplateVersion,
)
from apps.notifications.outbox.sweep import deliveries_retry
from apps.notifications.rendering import TemplateError, TemplateLimit, render_message
from apps.notifications.templating import template_errors

PREVIEW_CONTEXT: dict[str, Any] = {
    "customer": {"name": "Ada <Lovelace>", "email": "ada@example.com", "language": "en"},
    "order": {
        "id": 42,
        "number": "ORD-000042",
        "status": "shipped",
        "total": "24.98",
        "currency": "EUR",
        "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "12.49"}],
    },
    "from_status": "processing",
    "note": "",
}


class NotificationTemplateForm(forms.ModelForm):
    """The API's rule in the admin: a template that does not compile in the sandbox is not saved."""

    class Meta:
        model = NotificationTemplate
        fields = ("key", "channel", "language", "subject", "body_text", "body_html")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        errors = template_errors(
            subject=data.get("subject", ""),
            body_text=data.get("body_text", ""),
            body_html=data.get("body_html", ""),
        )
        for field, messages_ in errors.items():
            self.add_error(field, messages_)
        return data


class TemplateVersionInline(admin.TabularInline):
    model = TemplateVersion
    extra = 0
    can_delete = False
    fields = ("version", "subject", "body_text", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateForm
    inlines = (TemplateVersionInline,)
    list_display = ("key", "channel", "language", "subject", "updated_at")
    list_filter = ("channel", "language", "key")
    search_fields = ("key", "subject", "body_text")
    readonly_fields = ("preview",)

    @admin.display(description="Preview (sample order, customer named 'Ada <Lovelace>')")
    def preview(self, obj: NotificationTemplate) -> str:
        if obj.pk is None:
            return "Save to see a preview."
        try:
            rendered = render_message(
                subject=obj.subject,
                body_text=obj.body_text,
                body_html=obj.body_html,
                context=PREVIEW_CONTEXT,
                escape_body=obj.channel == "telegram",
            )
        except (TemplateError, TemplateLimit) as exc:
            return format_html("<strong>Template error:</strong> {}", str(exc))
        # Rendered templates are untrusted HTML and come back marked safe by the template engine:
        # escape() escapes regardless of that mark (format_html alone would trust it). The text parts
        # are shown as text, the HTML part only inside a sandboxed frame, which runs no script and has
        # no access to the admin's origin.
        return format_html(
            "<p><strong>Subject:</strong> {}</p><pre>{}</pre>"
            '<iframe sandbox="" referrerpolicy="no-referrer" srcdoc="{}" title="HTML part" '
            "style='width:100%;height:16em;border:1px solid #ccc'></iframe>",
            escape(rendered.subject),
            escape(rendered.body),
            escape(rendered.body_html or ""),
        )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("started_at", "duration_ms", "outcome", "error_code", "error_text")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "channel",
        "address",
        "status",
        "skip_reason",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "event", "status", "strategy", "priority", "send_at", "created_at")
    list_filter = ("status", "event", "deliveries__channel", "created_at")
    search_fields = ("customer__name", "customer__email", "dedup_key", "idempotency_key", "cancellation_key")
    list_select_related = ("customer",)
    raw_id_fields = ("customer", "api_key")
    readonly_fields = (
        "status",
        "dedup_key",
        "idempotency_key",
        "request_fingerprint",
        "created_at",
        "updated_at",
    )
    inlines = (DeliveryInline,)
    actions = ("retry_failed", "cancel")

    @admin.action(description="Retry the failed deliveries of the selected notifications")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        ids = list(
            Delivery.objects.filter(notification__in=queryset, status="failed").values_list("pk", flat=True)
        )
        count = deliveries_retry(delivery_ids=ids)
        self.message_user(request, f"{count} failed deliveries queued again.", messages.SUCCESS)

    @admin.action(description="Cancel what the selected notifications have left to send")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        done = notifications_cancel(list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            f"{done.deliveries} deliveries of {done.notifications} notifications cancelled.",
            messages.SUCCESS,
        )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "notification",
        "channel",
        "address",
        "status",
        "skip_reason",
        "attempts",
        "sent_at",
    )
    list_filter = ("status", "channel", "skip_reason", "created_at")
    search_fields = ("address", "provider_message_id", "last_error")
    raw_id_fields = ("notification",)
    readonly_fields = ("attempts", "throttled_attempts", "provider_message_id", "sent_at", "claimed_at")
    inlines = (DeliveryAttemptInline,)
    actions = ("retry_failed",)

    @admin.action(description="Retry the selected failed deliveries")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = deliveries_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} failed deliveries queued again.", messages.SUCCESS)


@admin.register(DigestWindow)
class DigestWindowAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "category", "channel", "status", "closes_at", "digest")
    list_filter = ("status", "channel", "category")
    raw_id_fields = ("customer", "digest")
    readonly_fields = ("customer", "category", "channel", "closes_at", "status", "digest", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """The suppression list: deleting an entry lets the next message to the address through."""

    list_display = ("channel", "address", "reason", "created_at", "delivery")
    list_filter = ("channel", "reason")
    search_fields = ("address",)
    raw_id_fields = ("delivery",)
    readonly_fields = ("created_at",)


@admin.register(ProviderEvent)
class ProviderEventAdmin(admin.ModelAdmin):
    """Tracking events as the email providers posted them (read only)."""

    list_display = (
        "occurred_at",
        "provider",
        "event_type",
        "esp_type",
        "message_id",
        "delivery",
        "applied_at",
    )
    list_filter = ("provider", "event_type")
    search_fields = ("message_id", "recipient")
    raw_id_fields = ("delivery",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
