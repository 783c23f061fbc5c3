"""The inbound Telegram webhook: the updates Telegram posts to us (/start with a link token, /stop).

The webhook is not behind API keys (Telegram cannot send one); it trusts an update only when the
X-Telegram-Bot-Api-Secret-Token header equals TELEGRAM_WEBHOOK_SECRET, the secret given to setWebhook.
Its reply rides on the webhook's answer (Telegram executes a method returned there), so linking needs
no outbound call and no rate-limit slot. Any update it understands is answered 200: an error status
would make Telegram redeliver it again and again. The body goes through the API's strict JSON parser
(deep nesting is a 400, not a 500), and an update whose update_id was seen in the last
TELEGRAM_UPDATE_REPLAY_WINDOW seconds is answered 200 and not acted on again: Telegram redelivers an
update it got no answer for, and a captured request replayed must not unlink or relink anybody.
"""

import hmac
import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ParseError

from apps.api_gateway.exceptions import error_json
from apps.api_gateway.parsers import json_strict
from apps.notifications.telegram_bot import telegram_update_handle

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        return error_json(403, "permission_denied", "Missing or wrong X-Telegram-Bot-Api-Secret-Token.")
    try:
        update = json_strict(request.body)
    except ParseError as exc:
        return error_json(400, "parse_error", str(exc.detail))
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return error_json(400, "validation_error", "An update is a JSON object with an integer update_id.")
    if not _first_time(update["update_id"]):
        logger.info("Telegram update %s seen before: ignored", update["update_id"])
        return JsonResponse({})
    reply = telegram_update_handle(update)
    logger.info("Telegram update %s handled", update.get("update_id"))
    return JsonResponse(reply or {})


def _first_time(update_id: int) -> bool:
    """True the first time an update_id arrives within the replay window (an atomic add in the shared
    cache); when the cache is unreachable the update is handled (linking is idempotent per token)."""
    try:
        return bool(
            cache.add(f"telegram:update:{update_id}", 1, timeout=settings.TELEGRAM_UPDATE_REPLAY_WINDOW)
        )
    except Exception:  # a cache outage must not drop customers' commands
        logger.warning("Telegram update %s: replay check unavailable", update_id)
        return True
