from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.notifications import subscribers
        from apps.notifications.models import NotificationTemplate
        from apps.notifications.templates_cache import templates_changed
        from apps.orders.api import ORDER_DETAIL_SECTIONS
        from apps.orders.events import OrderCreated, OrderStatusChanged
        from core.patterns.observer import event_bus

        post_save.connect(templates_changed, sender=NotificationTemplate, dispatch_uid="template-cache")
        post_delete.connect(templates_changed, sender=NotificationTemplate, dispatch_uid="template-cache-del")
        from django.db.models.signals import pre_save

        from apps.notifications.templating import on_template_saved, on_template_saving

        # Every change of a template keeps a version, whoever makes it (API, admin, shell).
        pre_save.connect(on_template_saving, sender=NotificationTemplate, dispatch_uid="template-version-v1")
        post_save.connect(on_template_saved, sender=NotificationTemplate, dispatch_uid="template-version")
        event_bus.subscribe(OrderCreated, subscribers.on_order_created)
        event_bus.subscribe(OrderStatusChanged, subscribers.on_order_status_changed)

        from apps.notifications.events import DeliveryFailed
        from apps.notifications.ops_alerts import on_delivery_failed

        event_bus.subscribe(DeliveryFailed, on_delivery_failed)

        from apps.notifications.api import order_notifications

        ORDER_DETAIL_SECTIONS["notifications"] = order_notifications

        from django.contrib import admin

        # The admin's home page links to the operator dashboard.
        admin.site.index_template = "admin/notifications/index.html"
