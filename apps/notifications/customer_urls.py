"""The notifications app's routes under /api/v1/customers/{id}/ (included before the customers app's own)."""

from django.urls import path

from apps.notifications.telegram_api import TelegramLinkApi

urlpatterns = [
    path("<str:customer_id>/telegram-link/", TelegramLinkApi.as_view(), name="customer-telegram-link"),
]
