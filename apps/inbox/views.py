"""Pages of the inbox: the demo a shop can copy from, and the WSGI answer for the stream's path."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.api_gateway.exceptions import error_json


@require_GET
def demo(request: HttpRequest) -> HttpResponse:
    """A live inbox for `?token=`: the list, the unread badge, mark read/archive (static/inbox/demo.js)."""
    return render(request, "inbox/demo.html")


def stream_elsewhere(request: HttpRequest) -> HttpResponse:
    message = (
        "The inbox stream is served by the ASGI process (bin/start stream, uvicorn config.asgi); "
        "route /inbox/stream/ there."
    )
    return error_json(404, "not_found", message)
