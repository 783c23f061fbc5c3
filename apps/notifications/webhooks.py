"""Telegram: the link endpoint of the API, and the webhook Telegram posts updates to.

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
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import Conflict, error_json
from apps.api_gateway.schema import error_response
from apps.customers.selectors import customer_get
from apps.notifications.telegram_bot import (
    TelegramNotConfigured,
    telegram_link_create,
    telegram_update_handle,
)

logger = logging.getLogger(__name__)


class TelegramLinkOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="t.me deep link; opening it and pressing Start links the chat.")
    expires_at = serializers.DateTimeField()


class TelegramLinkApi(APIView):
    @extend_schema(
        request=None,
        responses={
            201: TelegramLinkOutputSerializer,
            409: error_response(409, "No Telegram bot is configured, so there is nothing to link to."),
        },
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = customer_get(customer_id)
        try:
            offer = telegram_link_create(customer=customer)
        except TelegramNotConfigured as exc:
            raise Conflict(f"Telegram is not configured: {exc}") from None
        body = TelegramLinkOutputSerializer({"url": offer.url, "expires_at": offer.expires_at}).data
        return Response(body, status=status.HTTP_201_CREATED)


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
