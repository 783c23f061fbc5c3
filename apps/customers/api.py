"""Customer endpoints: each view validates, calls one service or selector, serializes."""

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import Conflict
from apps.api_gateway.pagination import PageNumberPagination, paginated_response
from apps.api_gateway.schema import COMPONENT_RULES, error_response
from apps.api_gateway.scopes import Scope, area
from apps.api_gateway.serializers import FilterSerializer, StrictCharField, validated
from apps.customers.digests import DIGEST_HELP, DIGEST_PATTERN, digest_parse
from apps.customers.models import (
    CHANNEL_CONTACT_FIELDS,
    IN_APP,
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
EXTERNAL_ID_TAKEN = error_response(409, "A customer with this external_id exists (`conflict`).")
PATCH_CONFLICT = error_response(
    409,
    "The external_id is taken, or with this change the customer would have no contact point or a "
    "channel without its contact (`conflict`, field errors in details).",
)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
            {"type": "string", "pattern": TELEGRAM_CHAT_ID_PATTERN},
            {"type": "string", "maxLength": 0, "description": "No Telegram chat."},
        ],
        "example": "@shop_customer",
    }
)
class TelegramChatIdField(serializers.Field):
    """An integer chat id, a string of digits or an @username; stored and returned as text."""

    default_error_messages = {"invalid": "Enter an integer chat id or an @username."}

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, float) and data.is_integer():
            data = int(data)  # JSON's 5.0 is the integer 5
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


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "enum": configured_channel_names()},
        "uniqueItems": True,
        "maxItems": len(configured_channel_names()),
        "description": "The channels the customer accepts, in preference order, each once.",
    }
)
class ChannelListField(serializers.ListField):
    """Checked by Customer.clean() (configured, once each, with a contact point)."""


def _given(field: str) -> dict[str, Any]:
    """`field` is present and holds a contact (not null, not empty)."""
    value: dict[str, Any] = {"type": "string", "minLength": 1}
    if field == "telegram_chat_id":
        value = {"anyOf": [{"type": "integer"}, value]}
    return {"required": [field], "properties": {field: value}}


def _listed(channel: str) -> dict[str, Any]:
    return {
        "required": ["channels"],
        "properties": {"channels": {"type": "array", "contains": {"const": channel}}},
    }


# Customer.clean()'s rules for a whole customer (POST and PUT), as the document states them: a
# contact point at least, and the contact of each listed channel.
COMPONENT_RULES["CustomerInputRequest"] = {
    "allOf": [
        {
            "anyOf": [
                *(_given(field) for field in ("email", "phone", "telegram_chat_id")),
                *([_listed(IN_APP)] if IN_APP in configured_channel_names() else []),
            ]
        },
        *(
            {"anyOf": [{"not": _listed(channel)}, _given(field)]}
            for channel, field in CHANNEL_CONTACT_FIELDS.items()
            if channel in configured_channel_names()
        ),
    ]
}


class CustomerInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, max_length=254)
    phone = PhoneField(required=False, allow_blank=True, allow_null=True, max_length=32)
    telegram_chat_id = TelegramChatIdField(required=False, allow_null=True)
    language = LanguageField(required=False, max_length=8)
    channels = ChannelListField(
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

    @extend_schema(
        request=CustomerInputSerializer, responses={201: CustomerOutputSerializer, 409: EXTERNAL_ID_TAKEN}
    )
    def post(self, request: Request) -> Response:
        customer = customer_create(**validated(CustomerInputSerializer, request.data))
        return Response(CustomerOutputSerializer(customer).data, status=status.HTTP_201_CREATED)


# Rules a PATCH breaks only together with the stored customer: 409 (the body is valid, the state
# is what conflicts), where the same rules in a whole body (POST, PUT) are 400s the document states.
STATE_RULES = {"no_contact_point", "channel_without_contact", "unique"}


def _codes(exc: DjangoValidationError) -> set[str | None]:
    return {error.code for errors in getattr(exc, "error_dict", {}).values() for error in errors}


class CustomerDetailApi(APIView):
    scopes = area(Scope.CUSTOMERS_READ, Scope.CUSTOMERS_WRITE)

    @extend_schema(responses=CustomerOutputSerializer)
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(CustomerOutputSerializer(customer_get(customer_id)).data)

    @extend_schema(
        request=CustomerInputSerializer, responses={200: CustomerOutputSerializer, 409: EXTERNAL_ID_TAKEN}
    )
    def put(self, request: Request, customer_id: str) -> Response:
        return self._update(request, customer_id, partial=False)

    @extend_schema(
        request=CustomerInputSerializer(partial=True),
        responses={200: CustomerOutputSerializer, 409: PATCH_CONFLICT},
    )
    def patch(self, request: Request, customer_id: str) -> Response:
        return self._update(request, customer_id, partial=True)

    def _update(self, request: Request, customer_id: str, *, partial: bool) -> Response:
        customer = customer_get(customer_id)
        data = validated(CustomerInputSerializer, request.data, partial=partial)
        try:
            customer = customer_update(customer=customer, data=data, partial=partial)
        except DjangoValidationError as exc:
            if partial and _codes(exc) <= STATE_RULES:
                # The change is valid on its own; with what the customer holds it is not.
                raise Conflict(
                    "With this change the customer breaks a rule.", details=exc.message_dict
                ) from None
            raise
        return Response(CustomerOutputSerializer(customer).data)


HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


@extend_schema_field({"type": "string", "pattern": HH_MM, "example": "22:00"})
class ClockTimeField(serializers.TimeField):
    """A local time as exactly `hh:mm` (24 hours); `9:5` or `21:00:00` are refused, as documented."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not re.fullmatch(HH_MM, value):
            raise serializers.ValidationError("Give a time as hh:mm, from 00:00 to 23:59.")
        return super().to_internal_value(value)


class QuietHoursSerializer(serializers.Serializer):
    start = ClockTimeField()
    end = ClockTimeField()


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


@extend_schema_field(
    {
        "type": "object",
        "properties": {
            category: {
                "type": "object",
                "properties": {
                    channel: {"type": "string", "pattern": DIGEST_PATTERN}
                    for channel in configured_channel_names()
                },
                "additionalProperties": False,
            }
            for category in Category.values
        },
        "additionalProperties": False,
        "example": {"marketing": {"email": "daily@18:00", "telegram": "hourly"}},
    }
)
class DigestField(serializers.Field):
    """{category: {channel: spec}}: the channels whose messages of a category are collected into one
    digest per window. Only known categories and configured channels, specs as DIGEST_PATTERN."""

    def to_internal_value(self, data: Any) -> dict[str, dict[str, str]]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Give an object of categories.")
        channels = configured_channel_names()
        errors = []
        for category, specs in data.items():
            if category not in Category.values:
                errors.append(f"Unknown category '{category}' (choose from {', '.join(Category.values)}).")
            elif not isinstance(specs, dict):
                errors.append(f"'{category}' must be an object of channel: spec.")
            else:
                for channel, spec in specs.items():
                    if channel not in channels:
                        errors.append(f"'{category}.{channel}': not a configured channel.")
                    elif digest_parse(spec) is None:
                        errors.append(f"'{category}.{channel}': give {DIGEST_HELP}")
        if errors:
            raise serializers.ValidationError(errors)
        return {category: dict(specs) for category, specs in data.items() if specs}

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
    digest = DigestField(
        default=dict,
        help_text="Collect a category's messages on a channel into one per window: " + DIGEST_HELP,
    )


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
