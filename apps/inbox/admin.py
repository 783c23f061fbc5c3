from django.contrib import admin

from apps.inbox.models import InboxItem


@admin.register(InboxItem)
class InboxItemAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "subject", "category", "created_at", "read_at", "archived_at")
    list_filter = ("category",)
    search_fields = ("subject", "customer__email")
    raw_id_fields = ("customer", "notification")
    readonly_fields = ("delivery_id", "created_at")
