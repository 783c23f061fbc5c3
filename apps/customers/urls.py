from django.urls import path

from apps.customers.api import CustomerDetailApi, CustomerListApi, CustomerPreferencesApi
from apps.notifications.webhooks import TelegramLinkApi

urlpatterns = [
    path("", CustomerListApi.as_view(), name="customer-list"),
    path("<str:customer_id>/", CustomerDetailApi.as_view(), name="customer-detail"),
    path("<str:customer_id>/telegram-link/", TelegramLinkApi.as_view(), name="customer-telegram-link"),
    path("<str:customer_id>/preferences/", CustomerPreferencesApi.as_view(), name="customer-preferences"),
]
