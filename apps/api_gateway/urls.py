"""Version 1 of the API: each app's routes, then a JSON 404 for anything else under /api/v1/."""

from django.urls import include, path, re_path

from apps.api_gateway.views import api_not_found

urlpatterns = [
    path("customers/", include("apps.notifications.customer_urls")),
    path("customers/", include("apps.inbox.customer_urls")),
    path("customers/", include("apps.customers.urls")),
    path("orders/", include("apps.orders.urls")),
    path("notifications/", include("apps.notifications.urls")),
    path("templates/", include("apps.notifications.template_urls")),
    path("webhooks/", include("apps.webhooks.urls")),
    path("suppressions/", include("apps.notifications.suppression_urls")),
    re_path(r"^.*$", api_not_found),
]
