"""Top-level routes: the versioned API, its schema and docs, operations endpoints and the admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.api_gateway import health
from apps.api_gateway import views as gateway_views
from apps.api_gateway.metrics import metrics_view
from apps.customers.views import unsubscribe
from apps.notifications.dashboard import dashboard_view
from apps.notifications.telegram_inbound import telegram_webhook

urlpatterns = [
    path("api/v1/", include("apps.api_gateway.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    re_path(r"^api/", gateway_views.api_not_found),
    path("health/", health.health, name="health"),
    path("health/db/", health.health_db, name="health-db"),
    path("health/redis/", health.health_redis, name="health-redis"),
    path("health/celery/", health.health_celery, name="health-celery"),
    path("metrics/", metrics_view, name="metrics"),
    path("unsubscribe/<str:token>/", unsubscribe, name="unsubscribe"),
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    # Email providers' tracking webhooks (anymail), e.g. /anymail/postmark/tracking/.
    path("anymail/", include("apps.notifications.tracking_urls")),
    # The customer's browser: inbox list, counts, marks with an inbox token; the stream is ASGI's.
    path("inbox/", include("apps.inbox.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard_view), name="notifications-dashboard"),
    path("admin/", admin.site.urls),
]

handler400 = "apps.api_gateway.views.handler400"
handler403 = "apps.api_gateway.views.handler403"
handler404 = "apps.api_gateway.views.handler404"
handler500 = "apps.api_gateway.views.handler500"
