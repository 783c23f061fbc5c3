"""JSON error pages for paths outside DRF views (the API, health, metrics), even with DEBUG on."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt

from apps.api_gateway.exceptions import error_json

_JSON_PREFIXES = ("/api/", "/health/", "/metrics/")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(_JSON_PREFIXES)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_json(400, "bad_request", "The request could not be understood.")
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_json(403, "permission_denied", "You do not have permission to do this.")
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return error_json(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return error_json(500, "server_error", "An internal error occurred.")
    return defaults.server_error(request)


@csrf_exempt  # API clients send no CSRF token: a POST must get the JSON 404, not Django's HTML 403
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all under /api/: JSON 404 for any method, even with DEBUG on (Django's is HTML)."""
    return error_json(404, "not_found", f"No API endpoint at {request.path}.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals (admin forms) stay Django's page; under /api/ they are enveloped like every error."""
    if _wants_json(request):
        return error_json(403, "csrf_failed", "CSRF verification failed.", {"reason": reason})
    return csrf.csrf_failure(request, reason)
