from django.urls import path

from apps.notifications.api import (
    DeadLetterListApi,
    DeadLetterReplayApi,
    NotificationBroadcastApi,
    NotificationHistoryApi,
    NotificationSendApi,
    NotificationStatusApi,
)
from apps.notifications.cancel_api import NotificationCancelApi, NotificationCancelByKeyApi

urlpatterns = [
    path("send/", NotificationSendApi.as_view(), name="notification-send"),
    path("broadcast/", NotificationBroadcastApi.as_view(), name="notification-broadcast"),
    path("status/<str:notification_id>/", NotificationStatusApi.as_view(), name="notification-status"),
    path("cancel/", NotificationCancelByKeyApi.as_view(), name="notification-cancel-by-key"),
    path("<str:notification_id>/cancel/", NotificationCancelApi.as_view(), name="notification-cancel"),
    path("history/", NotificationHistoryApi.as_view(), name="notification-history"),
    path("dead-letters/", DeadLetterListApi.as_view(), name="dead-letter-list"),
    path("dead-letters/replay/", DeadLetterReplayApi.as_view(), name="dead-letter-replay"),
]
