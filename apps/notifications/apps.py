from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"

    def ready(self) -> None:
        from apps.notifications import subscribers
        from apps.orders.api import ORDER_DETAIL_SECTIONS
        from apps.orders.events import OrderCreated, OrderStatusChanged
        from core.patterns.observer import event_bus

        event_bus.subscribe(OrderCreated, subscribers.on_order_created)
        event_bus.subscribe(OrderStatusChanged, subscribers.on_order_status_changed)

        from apps.notifications.api import order_notifications

        ORDER_DETAIL_SECTIONS["notifications"] = order_notifications
