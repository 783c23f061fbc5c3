from django.urls import path

from apps.webhooks.api import (
    EndpointAttemptsApi,
    EndpointDetailApi,
    EndpointListApi,
    EndpointRotateApi,
    EndpointTestApi,
)

urlpatterns = [
    path("", EndpointListApi.as_view(), name="webhook-list"),
    path("<str:endpoint_id>/", EndpointDetailApi.as_view(), name="webhook-detail"),
    path("<str:endpoint_id>/rotate-secret/", EndpointRotateApi.as_view(), name="webhook-rotate"),
    path("<str:endpoint_id>/test/", EndpointTestApi.as_view(), name="webhook-test"),
    path("<str:endpoint_id>/attempts/", EndpointAttemptsApi.as_view(), name="webhook-attempts"),
]
