"""Webhook endpoints: create (the secret is shown once), list, read, change, delete, rotate the
secret, send a test event, and the log of attempts. An endpoint belongs to the API key that created
it: another key gets 404."""

from typing import Any, cast

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.models import ApiKey
from apps.api_gateway.pagination import CursorPagination, PageNumberPagination, paginated_response
from apps.api_gateway.scopes import Scope, every_method
from apps.api_gateway.serializers import validated
from apps.webhooks.models import SUBSCRIBABLE, WebhookAttempt, WebhookEndpoint
from apps.webhooks.safety import HOST_NAME_PATTERN, UnsafeUrl, url_check
from apps.webhooks.selectors import attempt_list, endpoint_get, endpoint_list
from apps.webhooks.services import (
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_test,
    endpoint_update,
)


def https_required() -> bool:
    """Production takes https:// receivers only; development and private networks take http:// too."""
    return not (settings.DEBUG or settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS)


class WebhookUrlField(serializers.URLField):
    """A receiver's URL; the document's pattern follows https_required() (see the extension below)."""


class WebhookUrlFieldSchema(OpenApiSerializerFieldExtension):
    target_class = WebhookUrlField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        scheme = "https" if https_required() else "https?"
        host = "" if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS else HOST_NAME_PATTERN
        return {"type": "string", "format": "uri", "maxLength": 2000, "pattern": f"^{scheme}://{host}"}


class EndpointInputSerializer(serializers.Serializer):
    url = WebhookUrlField(max_length=2000)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE),
        allow_empty=False,
        min_length=1,
        max_length=len(SUBSCRIBABLE),
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    enabled = serializers.BooleanField(required=False, help_text="true re-enables a disabled endpoint.")

    def validate_url(self, url: str) -> str:
        allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
        try:
            url_check(url, allow_private=allow_private, require_https=https_required(), unresolved_ok=True)
        except UnsafeUrl as exc:
            raise serializers.ValidationError(str(exc)) from None
        return url

    def validate_events(self, events: list[str]) -> list[str]:
        return sorted(set(events))


class EndpointOutputSerializer(serializers.ModelSerializer):
    enabled = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields: tuple[str, ...] = (
            "id",
            "url",
            "events",
            "description",
            "enabled",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "created_at",
            "updated_at",
        )

    def get_enabled(self, endpoint: WebhookEndpoint) -> bool:
        return endpoint.disabled_at is None


class EndpointWithSecretSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(help_text="Shown only here and on rotation: keep it.")

    class Meta(EndpointOutputSerializer.Meta):
        fields = (*EndpointOutputSerializer.Meta.fields, "secret")


class AttemptSerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="message.message_id")
    type = serializers.CharField(source="message.type")

    class Meta:
        model = WebhookAttempt
        fields = ("id", "event_id", "type", "status_code", "duration_ms", "error", "at")


class AttemptPagination(CursorPagination):
    ordering = ("-at", "-id")
    page_size = 50
    max_page_size = 200


def _key(request: Request) -> ApiKey:
    return cast(ApiKey, request.auth)


def _endpoint(request: Request, endpoint_id: str) -> WebhookEndpoint:
    return endpoint_get(api_key=_key(request), endpoint_id=endpoint_id)


EXAMPLE = {"url": "https://shop.example/hooks/notifications", "events": ["delivery.sent", "delivery.failed"]}


class EndpointListApi(APIView):
    scopes = every_method(Scope.WEBHOOKS_MANAGE)
    pagination_class = PageNumberPagination

    @extend_schema(responses=EndpointOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        queryset = endpoint_list(api_key=_key(request))
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=EndpointOutputSerializer
        )

    @extend_schema(
        request=EndpointInputSerializer,
        responses={201: EndpointWithSecretSerializer},
        examples=[OpenApiExample("Delivery outcomes", value=EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = validated(EndpointInputSerializer, request.data)
        endpoint = endpoint_create(
            api_key=_key(request), url=data["url"], events=data["events"], description=data["description"]
        )
        return Response(EndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailApi(APIView):
    scopes = every_method(Scope.WEBHOOKS_MANAGE)

    @extend_schema(responses=EndpointOutputSerializer)
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(EndpointOutputSerializer(_endpoint(request, endpoint_id)).data)

    @extend_schema(request=EndpointInputSerializer(partial=True), responses=EndpointOutputSerializer)
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(request, endpoint_id)
        data = validated(EndpointInputSerializer, request.data, partial=True)
        endpoint = endpoint_update(endpoint=endpoint, data=data)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, endpoint_id: str) -> Response:
        endpoint_delete(endpoint=_endpoint(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateApi(APIView):
    scopes = every_method(Scope.WEBHOOKS_MANAGE)

    @extend_schema(request=None, responses=EndpointWithSecretSerializer)
    def post(self, request: Request, endpoint_id: str) -> Response:
        """A new secret; the previous one still signs for 24 hours (both signatures are sent)."""
        endpoint = endpoint_rotate_secret(endpoint=_endpoint(request, endpoint_id))
        return Response(EndpointWithSecretSerializer(endpoint).data)


class EndpointTestApi(APIView):
    scopes = every_method(Scope.WEBHOOKS_MANAGE)

    @extend_schema(
        request=None,
        responses={202: inline_serializer("WebhookTestQueued", {"queued": serializers.IntegerField()})},
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        """Queue a `webhook.test` event for this endpoint, subscribed or not."""
        queued = endpoint_test(endpoint=_endpoint(request, endpoint_id))
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class EndpointAttemptsApi(APIView):
    scopes = every_method(Scope.WEBHOOKS_MANAGE)
    pagination_class = AttemptPagination

    @extend_schema(responses=AttemptSerializer(many=True))
    def get(self, request: Request, endpoint_id: str) -> Response:
        queryset = attempt_list(endpoint=_endpoint(request, endpoint_id))
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=AttemptSerializer
        )
