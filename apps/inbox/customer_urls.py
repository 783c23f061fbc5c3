"""The inbox's routes under /api/v1/customers/{id}/ (included before the customers app's own)."""

from django.urls import path

from apps.inbox.api import (
    CustomerInboxApi,
    CustomerInboxCountsApi,
    CustomerInboxMarkApi,
    CustomerInboxTokenApi,
)

urlpatterns = [
    path("<str:customer_id>/inbox/", CustomerInboxApi.as_view(), name="customer-inbox"),
    path("<str:customer_id>/inbox/counts/", CustomerInboxCountsApi.as_view(), name="customer-inbox-counts"),
    path("<str:customer_id>/inbox/mark/", CustomerInboxMarkApi.as_view(), name="customer-inbox-mark"),
    path("<str:customer_id>/inbox-token/", CustomerInboxTokenApi.as_view(), name="customer-inbox-token"),
]
