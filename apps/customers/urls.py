from django.urls import path

from apps.customers.api import CustomerDetailApi, CustomerListApi

urlpatterns = [
    path("", CustomerListApi.as_view(), name="customer-list"),
    path("<str:customer_id>/", CustomerDetailApi.as_view(), name="customer-detail"),
]
