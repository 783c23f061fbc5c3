from django.urls import path

from apps.notifications.templates_api import (
    TemplateDetailApi,
    TemplateListApi,
    TemplatePreviewApi,
    TemplateRestoreApi,
    TemplateVersionListApi,
)

urlpatterns = [
    path("", TemplateListApi.as_view(), name="template-list"),
    path("preview/", TemplatePreviewApi.as_view(), name="template-preview"),
    path("<str:template_id>/", TemplateDetailApi.as_view(), name="template-detail"),
    path("<str:template_id>/versions/", TemplateVersionListApi.as_view(), name="template-versions"),
    path(
        "<str:template_id>/versions/<int:version>/restore/",
        TemplateRestoreApi.as_view(),
        name="template-restore",
    ),
]
