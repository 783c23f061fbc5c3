from django.urls import path

from apps.notifications.suppressions_api import SuppressionDetailApi, SuppressionListApi

urlpatterns = [
    path("", SuppressionListApi.as_view(), name="suppression-list"),
    path("<str:suppression_id>/", SuppressionDetailApi.as_view(), name="suppression-detail"),
]
