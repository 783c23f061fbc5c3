from django.contrib import admin

from apps.customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "email", "telegram_chat_id", "language", "channels", "created_at")
    list_filter = ("language", "created_at")
    search_fields = ("name", "email", "phone", "telegram_chat_id", "external_id")
    readonly_fields = ("created_at", "updated_at")
