from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"

    def ready(self) -> None:
        from anymail.signals import tracking
        from celery.signals import worker_ready
        from django.contrib import admin
        from django.db.models.signals import post_delete, post_save, pre_save

        from apps.api_gateway.health import check_register
        from apps.api_gateway.metrics import collector_register
        from apps.notifications import dispatch, health, metrics, subscribers
        from apps.notifications.api import ORDER_NOTIFICATIONS_VERSION, order_notifications
        from apps.notifications.channels.email_providers import email_providers
        from apps.notifications.events import DeliveryFailed
        from apps.notifications.models import NotificationTemplate
        from apps.notifications.ops_alerts import on_delivery_failed
        from apps.notifications.templates_cache import templates_changed
        from apps.notifications.templating import on_template_saved, on_template_saving
        from apps.notifications.tracking import on_tracking
        from apps.orders.events import OrderCreated, OrderStatusChanged
        from apps.orders.sections import order_section_register
        from core.patterns.observer import event_bus

        post_save.connect(templates_changed, sender=NotificationTemplate, dispatch_uid="template-cache")
        post_delete.connect(templates_changed, sender=NotificationTemplate, dispatch_uid="template-cache-del")
        # Every change of a template keeps a version, whoever makes it (API, admin, shell).
        pre_save.connect(on_template_saving, sender=NotificationTemplate, dispatch_uid="template-version-v1")
        post_save.connect(on_template_saved, sender=NotificationTemplate, dispatch_uid="template-version")

        event_bus.subscribe(OrderCreated, subscribers.on_order_event)
        event_bus.subscribe(OrderStatusChanged, subscribers.on_order_event)
        event_bus.subscribe(DeliveryFailed, on_delivery_failed)

        # Extension points of the layers below: the order detail, /health/ and /metrics/.
        order_section_register("notifications", order_notifications, version_sql=ORDER_NOTIFICATIONS_VERSION)
        check_register("channels", health.check_channels, degrades=health.channels_degrade)
        for collect in (metrics.collect_circuits, metrics.collect_queue_depths, metrics.collect_outbox_due):
            collector_register(collect)

        # The email providers' tracking webhooks (mounted at /anymail/) store their events here.
        tracking.connect(on_tracking, dispatch_uid="notifications-tracking")
        email_providers()  # a malformed EMAIL_PROVIDERS stops every process at start

        worker_ready.connect(dispatch.on_worker_ready, dispatch_uid="notifications-start-sweep")

        # The admin's home page links to the operator dashboard.
        admin.site.index_template = "admin/notifications/index.html"
