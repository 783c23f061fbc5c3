"""CORS for the browser's inbox routes (/inbox/...): a page on one of INBOX_ALLOWED_ORIGINS may read
and mark its customer's inbox and open the stream with the token. Nothing else is exposed to other
origins, and no cookie is ever accepted in place of the token."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, Last-Event-ID"
MAX_AGE = "600"


def cors_headers(origin: str | None, *, preflight: bool = False) -> dict[str, str]:
    """The CORS headers to answer `origin` with: none when it is not allowed."""
    if not origin or origin not in settings.INBOX_ALLOWED_ORIGINS:
        return {"Vary": "Origin"}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers |= {
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        }
    return headers


def with_cors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Answer preflights for the view and add the CORS headers to its answers."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response = HttpResponse(status=204)
            headers = cors_headers(origin, preflight=True)
        else:
            response = view(request, *args, **kwargs)
            headers = cors_headers(origin)
        for name, value in headers.items():
            response[name] = value
        return response

    return wrapped
