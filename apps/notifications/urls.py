from django.urls import path

from apps.notifications.api import (
    DeadLetterListApi,
    DeadLetterReplayApi,
    NotificationBroadcastApi,
    NotificationHistoryApi,
    NotificationSendApi,
    NotificationStatusApi,
)

urlpatterns = [
    path("send/", NotificationSendApi.as_view(), name="notification-send"),
    path("broadcast/", NotificationBroadcastApi.as_view(), name="notification-broadcast"),
    path("status/<str:notification_id>/", NotificationStatusApi.as_view(), name="notification-status"),
    path("history/", NotificationHistoryApi.as_view(), name="notification-history"),
    path("dead-letters/", DeadLetterListApi.as_view(), name="dead-letter-list"),
    path("dead-letters/replay/", DeadLetterReplayApi.as_view(), name="dead-letter-replay"),
]
