"""Notification endpoints: send (202, Idempotency-Key; scheduled with send_at), broadcast, status,
history (cursor-paginated), dead letters. Cancelling is in cancel_api."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import ApiError, UnprocessableEntity, reference_not_found
from apps.api_gateway.json_values import ContextField
from apps.api_gateway.pagination import CursorPagination, paginated_response
from apps.api_gateway.schema import COMPONENT_RULES, error_response
from apps.api_gateway.scopes import Scope, area, every_method
from apps.api_gateway.serializers import FilterSerializer, StrictCharField, validated
from apps.customers.models import Category
from apps.customers.selectors import customer_find
from apps.notifications import dispatch
from apps.notifications.channels import CHANNEL_CHOICES
from apps.notifications.models import Delivery, Notification, NotificationStatus, Priority, Strategy
from apps.notifications.outbox.sweep import deliveries_retry
from apps.notifications.output import NotificationOutputSerializer, notification_output
from apps.notifications.planning import (
    TemplateOverBudget,
    validate_template_key,
)
from apps.notifications.rendering import TemplateError, TemplateLimit, template_check
from apps.notifications.schedule import SendAtField
from apps.notifications.selectors import (
    dead_letters,
    notification_get,
    notification_history,
    notifications_of_order,
)
from apps.notifications.sends import IdempotencyConflict, notification_send
from apps.orders.models import Order
from core.db_router import reads_from_replica


class BrokerUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    default_detail = "The broadcast could not be queued now; try again shortly."


class IdempotencyKeyReused(UnprocessableEntity):
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request body."


# Changes whenever the section below would: a notification or delivery added, or any of them written
# (every write of a delivery or notification sets its updated_at).
# (On PostgreSQL deliveries are found by their notifications' ids, not joined: with statistics behind a
# burst of inserts, PostgreSQL planned the join as a scan of every delivery.)
_DELIVERIES_OF = {
    "postgresql": "d.notification_id = ANY(ARRAY_AGG(n.id))",
    "sqlite": "d.notification_id IN (SELECT n2.id FROM {notification} n2 WHERE n2.order_id = {order_id})",
}
_VERSION_SQL = (
    "(SELECT COUNT(n.id) || ':' || COALESCE(CAST(MAX(n.updated_at) AS TEXT), '') || ':'"
    " || COALESCE((SELECT CAST(MAX(d.updated_at) AS TEXT) FROM {delivery} d WHERE {deliveries_of}), '')"
    " FROM {notification} n WHERE n.order_id = {order_id})"
)
ORDER_NOTIFICATIONS_VERSION = (
    _VERSION_SQL.replace("{deliveries_of}", _DELIVERIES_OF.get(connection.vendor, _DELIVERIES_OF["sqlite"]))
    .replace("{notification}", Notification._meta.db_table)
    .replace("{delivery}", Delivery._meta.db_table)
)


def order_notifications(order: Order) -> list[dict[str, Any]]:
    """The notifications of an order, for the order detail (registered by the app config)."""
    return [notification_output(n) for n in notifications_of_order(order.pk)]


NO_CUSTOMER_OR_TEMPLATE = error_response(
    404,
    "The body names a customer or template key that does not exist (`not_found`, with the field in details).",
)


# "Either template or message", as the document states it.
for _component in ("SendInputRequest", "BroadcastInputRequest"):
    COMPONENT_RULES[_component] = {
        "oneOf": [
            {"required": ["template"], "not": {"required": ["message"]}},
            {"required": ["message"], "not": {"required": ["template"]}},
        ]
    }


class MessageInputSerializer(serializers.Serializer):
    """What to send and how: shared by single sends and broadcasts."""

    template = StrictCharField(required=False, max_length=64)
    subject = StrictCharField(required=False, allow_blank=True, max_length=255)
    message = StrictCharField(required=False, max_length=20_000)
    context = ContextField(required=False, default=dict)  # type: ignore[assignment]
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=CHANNEL_CHOICES),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=10,
    )
    strategy = serializers.ChoiceField(choices=Strategy.choices, default=Strategy.ALL)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    category = serializers.ChoiceField(
        choices=Category.choices,
        default=Category.MARKETING,
        help_text="Customers choose channels per category; marketing waits for the end of quiet hours.",
    )
    send_at = SendAtField(
        required=False,
        help_text="Scheduled: not sent before this moment (ISO 8601 with a zone; status `scheduled` until "
        "then). Up to 60 s in the past means now; at most NOTIFICATION_SCHEDULE_MAX_DAYS (365) ahead.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("template")) == bool(attrs.get("message")):
            raise serializers.ValidationError(
                "Give either `template` or `message` (with an optional `subject`)."
            )
        if attrs.get("template"):
            try:
                validate_template_key(attrs["template"])
            except DjangoValidationError:
                raise reference_not_found(
                    "template", f"No template with key '{attrs['template']}'."
                ) from None
        for field in ("subject", "message"):
            try:
                template_check(attrs.get(field, ""))
            except TemplateError as exc:
                raise serializers.ValidationError({field: [f"Not a valid template: {exc}"]}) from None
            except TemplateLimit as exc:
                raise serializers.ValidationError(
                    {field: [f"Over the rendering budget: the template {exc}."], "reason": exc.reason}
                ) from None
        return attrs


class SendInputSerializer(MessageInputSerializer):
    customer = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    cancellation_key = StrictCharField(
        required=False,
        max_length=200,
        help_text="POST /notifications/cancel/ with this key cancels every notification of this API key "
        "sent with it that has something left to send.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        customer = customer_find(attrs["customer"])
        if customer is None:
            raise reference_not_found("customer", "No customer with this id.")
        attrs["customer_row"] = customer
        return attrs


class BroadcastInputSerializer(MessageInputSerializer):
    customers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=10_000,
        help_text="Customer ids (up to 10,000; larger audiences: leave it out to reach every customer).",
    )


class HistoryFilterSerializer(FilterSerializer):
    customer = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    status = serializers.ChoiceField(required=False, choices=NotificationStatus.choices)
    channel = serializers.CharField(required=False, min_length=1, max_length=32)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class HistoryPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200


class DeadLetterOutputSerializer(serializers.ModelSerializer):
    notification = serializers.IntegerField(source="notification_id")
    customer = serializers.IntegerField(source="notification.customer_id")

    class Meta:
        model = Delivery
        fields = (
            "id",
            "notification",
            "customer",
            "channel",
            "address",
            "attempts",
            "last_error",
            "updated_at",
        )


class DeadLetterFilterSerializer(FilterSerializer):
    channel = serializers.CharField(required=False, min_length=1, max_length=32)
    since = serializers.DateTimeField(required=False)


class DeadLetterReplaySerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), max_length=10_000
    )


class DeadLetterPagination(CursorPagination):
    ordering = ("-updated_at", "-id")
    page_size = 50
    max_page_size = 500


class DeadLetterListApi(APIView):
    scopes = every_method(Scope.OPERATIONS)
    pagination_class = DeadLetterPagination

    @extend_schema(parameters=[DeadLetterFilterSerializer], responses=DeadLetterOutputSerializer(many=True))
    @reads_from_replica
    def get(self, request: Request) -> Response:
        filters = validated(DeadLetterFilterSerializer, request.query_params)
        return paginated_response(
            request=request,
            view=self,
            queryset=dead_letters(**filters),
            serializer_class=DeadLetterOutputSerializer,
        )


class DeadLetterReplayApi(APIView):
    scopes = every_method(Scope.OPERATIONS)

    @extend_schema(request=DeadLetterReplaySerializer, responses={202: dict})
    def post(self, request: Request) -> Response:
        data = validated(DeadLetterReplaySerializer, request.data)
        return Response(
            {"replayed": deliveries_retry(delivery_ids=data["ids"])}, status=status.HTTP_202_ACCEPTED
        )


class NotificationSendApi(APIView):
    scopes = every_method(Scope.NOTIFICATIONS_SEND)

    @extend_schema(
        request=SendInputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "maxLength": 255, "pattern": "^[\\x20-\\x7e]*$"},
                location=OpenApiParameter.HEADER,
                description="Up to 255 printable ASCII characters; a replay with the same body answers 200.",
            )
        ],
        responses={
            202: NotificationOutputSerializer,
            200: NotificationOutputSerializer,
            404: NO_CUSTOMER_OR_TEMPLATE,
            422: error_response(
                422, "This Idempotency-Key came with another body (`idempotency_key_reused`)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and (len(key) > 255 or not key.isprintable() or not key.isascii()):
            raise serializers.ValidationError({"Idempotency-Key": ["Up to 255 printable ASCII characters."]})
        data = validated(SendInputSerializer, request.data)
        customer = data.pop("customer_row")  # read by the validation, from the cache
        try:
            notification, created = notification_send(
                api_key=request.auth,
                idempotency_key=key,
                customer=customer,
                data=data,
            )
        except IdempotencyConflict:
            raise IdempotencyKeyReused() from None
        except TemplateOverBudget as exc:
            field = "template" if data.get("template") else "message"
            raise serializers.ValidationError(
                {field: [f"Over the rendering budget: {exc}."], "reason": TemplateLimit.reason}
            ) from None
        # A new notification carries its deliveries in memory; a replayed one is read back.
        answer = notification if created else notification_get(notification.pk)
        body = notification_output(answer)
        return Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)


class NotificationBroadcastApi(APIView):
    scopes = every_method(Scope.OPERATIONS)

    @extend_schema(request=BroadcastInputSerializer, responses={202: dict, 404: NO_CUSTOMER_OR_TEMPLATE})
    def post(self, request: Request) -> Response:
        data = validated(BroadcastInputSerializer, request.data)
        if data.get("send_at") is not None:
            data["send_at"] = data["send_at"].isoformat()  # through the broker's JSON
        try:
            dispatch.broadcast_enqueue(data)
        except Exception:  # the broker is down: the request is stored nowhere else
            raise BrokerUnavailable() from None
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class NotificationStatusApi(APIView):
    scopes = area(Scope.NOTIFICATIONS_READ, Scope.NOTIFICATIONS_SEND)

    @extend_schema(responses=NotificationOutputSerializer)
    def get(self, request: Request, notification_id: str) -> Response:
        return Response(notification_output(notification_get(notification_id)))


class NotificationHistoryApi(APIView):
    scopes = area(Scope.NOTIFICATIONS_READ, Scope.NOTIFICATIONS_SEND)
    pagination_class = HistoryPagination

    @extend_schema(parameters=[HistoryFilterSerializer], responses=NotificationOutputSerializer(many=True))
    @reads_from_replica
    def get(self, request: Request) -> Response:
        filters = validated(HistoryFilterSerializer, request.query_params)
        queryset = notification_history(
            customer_id=filters.get("customer"),
            status=filters.get("status"),
            channel=filters.get("channel"),
            created_after=filters.get("created_after"),
            created_before=filters.get("created_before"),
        )
        return paginated_response(
            request=request,
            view=self,
            queryset=queryset,
            serializer_class=NotificationOutputSerializer,
        )
