"""Gateway middleware: reject oversized API bodies before anything reads them."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.api_gateway.exceptions import error_json


class BodySizeLimitMiddleware:
    """413 for an /api/ request whose declared body exceeds API_MAX_BODY_BYTES.

    DRF parsers read the WSGI stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not
    guard JSON bodies; this does. nginx's client_max_body_size is the first line in production.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                return error_json(400, "bad_request", "Content-Length is not a number.")
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                return error_json(
                    413,
                    "request_too_large",
                    f"The request body is larger than {limit} bytes.",
                    {"max_bytes": limit},
                )
        return self.get_response(request)
