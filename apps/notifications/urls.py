from django.urls import path

from apps.notifications.api import NotificationHistoryApi, NotificationSendApi, NotificationStatusApi

urlpatterns = [
    path("send/", NotificationSendApi.as_view(), name="notification-send"),
    path("status/<str:notification_id>/", NotificationStatusApi.as_view(), name="notification-status"),
    path("history/", NotificationHistoryApi.as_view(), name="notification-history"),
]
