"""Customer endpoints: each view validates, calls one service or selector, serializes."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.pagination import PageNumberPagination, paginated_response
from apps.api_gateway.scopes import Scope, area
from apps.api_gateway.serializers import FilterSerializer, StrictCharField, validated
from apps.customers.models import (
    PHONE_PATTERN,
    TELEGRAM_CHAT_ID_PATTERN,
    Category,
    Customer,
    available_time_zones,
    configured_channel_names,
)
from apps.customers.preferences import preferences_of, preferences_update
from apps.customers.selectors import customer_get, customer_list
from apps.customers.services import customer_create, customer_update
from core.db_router import reads_from_replica

BLANK_WHEN_NULL = ("email", "phone", "telegram_chat_id")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
            {"type": "string", "pattern": TELEGRAM_CHAT_ID_PATTERN},
        ],
        "example": "@shop_customer",
    }
)
class TelegramChatIdField(serializers.Field):
    """An integer chat id, a string of digits or an @username; stored and returned as text."""

    default_error_messages = {"invalid": "Enter an integer chat id or an @username."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return str(data).strip()

    def to_representation(self, value: Any) -> str:
        return str(value)


@extend_schema_field({"type": "string", "enum": list(settings.NOTIFICATION_LANGUAGES)})
class LanguageField(StrictCharField):
    """Checked by Customer.clean(); the schema names the languages that have templates."""


@extend_schema_field({"type": "string", "enum": configured_channel_names()})
class ChannelNameField(StrictCharField):
    """Checked by Customer.clean() (configured, once each, with a contact point)."""


@extend_schema_field({"type": "string", "pattern": PHONE_PATTERN, "maxLength": 32})
class PhoneField(StrictCharField):
    """Checked by the model's phone validator."""


class CustomerInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, max_length=254)
    phone = PhoneField(required=False, allow_blank=True, allow_null=True, max_length=32)
    telegram_chat_id = TelegramChatIdField(required=False, allow_null=True)
    language = LanguageField(required=False, max_length=8)
    channels = serializers.ListField(
        child=ChannelNameField(), required=False, allow_null=True, max_length=len(configured_channel_names())
    )
    external_id = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Contact fields are text columns: null means "none", like an empty string.
        return {k: ("" if v is None and k in BLANK_WHEN_NULL else v) for k, v in attrs.items()}


class CustomerOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = (
            "id",
            "name",
            "email",
            "phone",
            "telegram_chat_id",
            "language",
            "channels",
            "external_id",
            "created_at",
            "updated_at",
        )


class CustomerFilterSerializer(FilterSerializer):
    email = serializers.CharField(required=False, min_length=1, max_length=254)
    external_id = serializers.CharField(required=False, min_length=1, max_length=100)


class CustomerListApi(APIView):
    scopes = area(Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE)
    pagination_class = PageNumberPagination

    @extend_schema(parameters=[CustomerFilterSerializer], responses=CustomerOutputSerializer(many=True))
    @reads_from_replica
    def get(self, request: Request) -> Response:
        queryset = customer_list(**validated(CustomerFilterSerializer, request.query_params))
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=CustomerOutputSerializer
        )

    @extend_schema(request=CustomerInputSerializer, responses={201: CustomerOutputSerializer})
    def post(self, request: Request) -> Response:
        customer = customer_create(**validated(CustomerInputSerializer, request.data))
        return Response(CustomerOutputSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailApi(APIView):
    scopes = area(Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE)

    @extend_schema(responses=CustomerOutputSerializer)
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(CustomerOutputSerializer(customer_get(customer_id)).data)

    @extend_schema(request=CustomerInputSerializer, responses=CustomerOutputSerializer)
    def put(self, request: Request, customer_id: str) -> Response:
        return self._update(request, customer_id, partial=False)

    @extend_schema(request=CustomerInputSerializer(partial=True), responses=CustomerOutputSerializer)
    def patch(self, request: Request, customer_id: str) -> Response:
        return self._update(request, customer_id, partial=True)

    def _update(self, request: Request, customer_id: str, *, partial: bool) -> Response:
        customer = customer_get(customer_id)
        data = validated(CustomerInputSerializer, request.data, partial=partial)
        customer = customer_update(customer=customer, data=data, partial=partial)
        return Response(CustomerOutputSerializer(customer).data)


class QuietHoursSerializer(serializers.Serializer):
    start = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"])
    end = serializers.TimeField(format="%H:%M", input_formats=["%H:%M"])


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            category: {
                "type": "object",
                "properties": {channel: {"type": "boolean"} for channel in configured_channel_names()},
                "additionalProperties": False,
            }
            for category in Category.values
        },
        "additionalProperties": False,
        "example": {"order_updates": {"telegram": True, "email": True}, "marketing": {"email": False}},
    }
)
class CategoryChannelsField(serializers.Field):
    """{category: {channel: true|false}}; only known categories and configured channels, real booleans."""

    def to_internal_value(self, data: Any) -> dict[str, dict[str, bool]]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Give an object of categories.")
        channels = configured_channel_names()
        errors = []
        for category, switches in data.items():
            if category not in Category.values:
                errors.append(f"Unknown category '{category}' (choose from {', '.join(Category.values)}).")
            elif not isinstance(switches, dict):
                errors.append(f"'{category}' must be an object of channel: true|false.")
            else:
                for channel, on in switches.items():
                    if channel not in channels:
                        errors.append(f"'{category}.{channel}': not a configured channel.")
                    elif not isinstance(on, bool):
                        errors.append(f"'{category}.{channel}': give true or false.")
        if errors:
            raise serializers.ValidationError(errors)
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"type": "string", "enum": sorted(available_time_zones()), "example": "Europe/Berlin"})
class TimeZoneField(StrictCharField):
    """Checked by Customer.clean() against the IANA database."""


class PreferencesSerializer(serializers.Serializer):
    time_zone = TimeZoneField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    quiet_hours = QuietHoursSerializer(
        allow_null=True,
        default=None,
        help_text="Local times; marketing waits until `end`, order updates go silently on Telegram.",
    )
    categories = CategoryChannelsField(default=dict)


class CustomerPreferencesApi(APIView):
    scopes = area(Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE)

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(preferences_of(customer_get(customer_id)))

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def put(self, request: Request, customer_id: str) -> Response:
        customer = customer_get(customer_id)
        customer = preferences_update(customer=customer, data=validated(PreferencesSerializer, request.data))
        return Response(preferences_of(customer))
