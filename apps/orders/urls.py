from django.urls import path

from apps.orders.api import OrderDetailApi, OrderListApi, OrderStatusApi

urlpatterns = [
    path("", OrderListApi.as_view(), name="order-list"),
    path("<str:order_id>/", OrderDetailApi.as_view(), name="order-detail"),
    path("<str:order_id>/status/", OrderStatusApi.as_view(), name="order-status"),
]
