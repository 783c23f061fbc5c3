from django.urls import path

from apps.customers.api import CustomerDetailApi, CustomerListApi, CustomerPreferencesApi

urlpatterns = [
    path("", CustomerListApi.as_view(), name="customer-list"),
    path("<str:customer_id>/", CustomerDetailApi.as_view(), name="customer-detail"),
    path("<str:customer_id>/preferences/", CustomerPreferencesApi.as_view(), name="customer-preferences"),
]
