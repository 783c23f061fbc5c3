from django.contrib import admin
from django.http import HttpRequest

from apps.orders.models import Order, OrderItem, OrderStatusChange


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


class OrderStatusChangeInline(admin.TabularInline):
    model = OrderStatusChange
    extra = 0
    readonly_fields = ("from_status", "to_status", "note", "at")
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False  # history is written by the state machine only


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "status", "total", "currency", "created_at")
    list_filter = ("status", "currency", "created_at")
    search_fields = ("number", "external_id", "customer__name", "customer__email")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    readonly_fields = ("number", "status", "total", "created_at", "updated_at")
    inlines = (OrderItemInline, OrderStatusChangeInline)
