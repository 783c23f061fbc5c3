"""The inbound Telegram webhook: the updates Telegram posts to us (/start with a link token, /stop).

The webhook is not behind API keys (Telegram cannot send one); it trusts an update only when the
X-Telegram-Bot-Api-Secret-Token header equals TELEGRAM_WEBHOOK_SECRET, the secret given to setWebhook.
Its reply rides on the webhook's answer (Telegram executes a method returned there), so linking needs
no outbound call and no rate-limit slot. Any update it understands is answered 200: an error status
would make Telegram redeliver it again and again.
"""

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.api_gateway.exceptions import error_json
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
        update = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return error_json(400, "parse_error", "The body is not JSON.")
    if not isinstance(update, dict):
        return error_json(400, "validation_error", "An update is a JSON object.")
    reply = telegram_update_handle(update)
    logger.info("Telegram update %s handled", update.get("update_id"))
    return JsonResponse(reply or {})
