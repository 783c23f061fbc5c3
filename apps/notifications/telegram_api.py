"""The API's Telegram link endpoint: a t.me deep link the shop shows its signed-in customer."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import Conflict
from apps.api_gateway.schema import error_response
from apps.api_gateway.scopes import Scope, area
from apps.customers.selectors import customer_get
from apps.notifications.telegram_bot import TelegramNotConfigured, telegram_link_create


class TelegramLinkOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="t.me deep link; opening it and pressing Start links the chat.")
    expires_at = serializers.DateTimeField()


class TelegramLinkApi(APIView):
    scopes = area(Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE)

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
