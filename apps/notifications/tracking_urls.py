"""anymail's webhook views at /anymail/ (e.g. /anymail/postmark/tracking/), each guarded so that a post
it cannot read is a 400 in the API's error envelope, never a 500, and so that no post is taken while
ANYMAIL_WEBHOOK_SECRET is unset (anyone could otherwise bounce deliveries and fill the suppression
list)."""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailWebhookValidationFailure
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern

from apps.api_gateway.exceptions import error_json

logger = logging.getLogger(__name__)

app_name = "anymail"


def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def guarded_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            logger.warning("tracking post to %s refused: ANYMAIL_WEBHOOK_SECRET is not set", request.path)
            return error_json(400, "bad_request", "Tracking webhooks need ANYMAIL_WEBHOOK_SECRET.")
        try:
            return view(request, *args, **kwargs)
        except AnymailWebhookValidationFailure:
            logger.warning("tracking post to %s with wrong credentials", request.path)
            return error_json(400, "bad_request", "Wrong webhook credentials.")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning(
                "unreadable tracking post to %s: %s: %s", request.path, exc.__class__.__name__, exc
            )
            return error_json(400, "bad_request", "The tracking post could not be read.")

    return guarded_view


urlpatterns = [
    URLPattern(pattern.pattern, guarded(pattern.callback), pattern.default_args, pattern.name)
    for pattern in anymail_urls.urlpatterns
    if isinstance(pattern, URLPattern)
]
