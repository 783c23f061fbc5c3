"""Template endpoints: CRUD, versions and restore, preview. Rules live in apps.notifications.templating."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import Conflict, reference_not_found
from apps.api_gateway.json_values import ContextField
from apps.api_gateway.pagination import PageNumberPagination, paginated_response
from apps.api_gateway.schema import error_response
from apps.api_gateway.scopes import Scope, area, every_method
from apps.api_gateway.serializers import FilterSerializer, StrictCharField, validated
from apps.customers.selectors import customer_find
from apps.notifications.channels import CHANNEL_CHOICES
from apps.notifications.models import NotificationTemplate, TemplateVersion
from apps.notifications.selectors import template_by_id, template_get, template_list
from apps.notifications.templating import (
    InlineTemplate,
    TemplateExists,
    TemplateInUse,
    TemplateInvalid,
    template_create,
    template_delete,
    template_preview,
    template_restore,
    template_update,
    template_version_number,
    template_versions,
)

LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$"
CHANNELS = CHANNEL_CHOICES
EXAMPLE = {
    "key": "welcome",
    "channel": "email",
    "language": "en",
    "subject": "Welcome, {{ customer.name }}",
    "body": "Hello {{ customer.name }},\nthank you for signing up.",
    "body_html": "<p>Hello {{ customer.name }},</p><p>thank you for signing up.</p>",
}


class TemplateInUseError(Conflict):
    default_code = "template_in_use"


class TemplateInputSerializer(serializers.Serializer):
    key = serializers.RegexField(r"^[a-z0-9_.-]{1,64}$", max_length=64)
    channel = serializers.ChoiceField(choices=CHANNELS)
    language = serializers.RegexField(LANGUAGE, max_length=8, default="en")
    subject = StrictCharField(max_length=255, allow_blank=True, default="")
    body = StrictCharField(max_length=20_000, trim_whitespace=False)
    body_html = StrictCharField(max_length=100_000, allow_blank=True, default="", trim_whitespace=False)


class TemplateOutputSerializer(serializers.ModelSerializer):
    body = serializers.CharField(source="body_text")
    version = serializers.SerializerMethodField()

    class Meta:
        model = NotificationTemplate
        fields = ("id", "key", "channel", "language", "subject", "body", "body_html", "version", "updated_at")

    def get_version(self, template: NotificationTemplate) -> int:
        return template_version_number(template)


class TemplateVersionSerializer(serializers.ModelSerializer):
    body = serializers.CharField(source="body_text")

    class Meta:
        model = TemplateVersion
        fields = ("version", "subject", "body", "body_html", "created_at")


class TemplateFilterSerializer(FilterSerializer):
    key = serializers.CharField(required=False, min_length=1, max_length=64)
    channel = serializers.CharField(required=False, min_length=1, max_length=32)
    language = serializers.CharField(required=False, min_length=1, max_length=8)


class InlineTemplateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=CHANNELS)
    subject = StrictCharField(max_length=255, allow_blank=True, default="")
    body = StrictCharField(max_length=20_000, trim_whitespace=False)
    body_html = StrictCharField(max_length=100_000, allow_blank=True, default="", trim_whitespace=False)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "description": "A stored template's id."},
            {
                "type": "object",
                "properties": {
                    "channel": {"type": "string", "enum": CHANNELS},
                    "subject": {"type": "string", "maxLength": 255},
                    "body": {"type": "string", "minLength": 1, "maxLength": 20000},
                    "body_html": {"type": "string", "maxLength": 100000},
                },
                "required": ["channel", "body"],
            },
        ]
    }
)
class TemplateReferenceField(serializers.Field):
    """A stored template's id, or an inline template {channel, subject?, body, body_html?}."""

    def to_internal_value(self, data: Any) -> NotificationTemplate | InlineTemplate:
        if isinstance(data, float) and data.is_integer():
            data = int(data)  # JSON's 7.0 is the integer 7
        if isinstance(data, int) and not isinstance(data, bool):
            template = template_by_id(data)
            if template is None:
                raise reference_not_found("template", "No template with this id.")
            return template
        if isinstance(data, dict):
            inline = validated(InlineTemplateSerializer, data)
            return InlineTemplate(
                channel=inline["channel"],
                subject=inline["subject"],
                body_text=inline["body"],
                body_html=inline["body_html"],
            )
        raise serializers.ValidationError("A template id or an object {channel, subject?, body, body_html?}.")


class PreviewInputSerializer(serializers.Serializer):
    template = TemplateReferenceField()
    customer = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    context = ContextField(required=False, default=dict)  # type: ignore[assignment]


class PreviewOutputSerializer(serializers.Serializer):
    subject = serializers.CharField()
    body = serializers.CharField()
    body_html = serializers.CharField()


def _template(template_id: str) -> NotificationTemplate:
    return template_get(template_id)


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """API names to model fields (`body` is the model's body_text)."""
    return {("body_text" if name == "body" else name): value for name, value in data.items()}


def _saved(save: Any) -> NotificationTemplate:
    """Run a save, turning the rules' refusals into API errors."""
    try:
        return save()
    except TemplateInvalid as exc:
        raise serializers.ValidationError(exc.errors) from None
    except TemplateExists:
        raise Conflict("A template with this key, channel and language exists.") from None


CONFLICT = error_response(409, "A template with this key, channel and language exists (`conflict`).")


class TemplateListApi(APIView):
    scopes = area(Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE)
    pagination_class = PageNumberPagination

    @extend_schema(parameters=[TemplateFilterSerializer], responses=TemplateOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = validated(TemplateFilterSerializer, request.query_params)
        queryset = template_list(**filters)
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=TemplateOutputSerializer
        )

    @extend_schema(
        request=TemplateInputSerializer,
        responses={201: TemplateOutputSerializer, 409: CONFLICT},
        examples=[OpenApiExample("A welcome email", value=EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        data = validated(TemplateInputSerializer, request.data)
        template = _saved(lambda: template_create(**_fields(data)))
        return Response(TemplateOutputSerializer(template).data, status=status.HTTP_201_CREATED)


class TemplateDetailApi(APIView):
    scopes = area(Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE)

    @extend_schema(responses=TemplateOutputSerializer)
    def get(self, request: Request, template_id: str) -> Response:
        return Response(TemplateOutputSerializer(_template(template_id)).data)

    @extend_schema(request=TemplateInputSerializer, responses={200: TemplateOutputSerializer, 409: CONFLICT})
    def put(self, request: Request, template_id: str) -> Response:
        return self._update(request, template_id, partial=False)

    @extend_schema(
        request=TemplateInputSerializer(partial=True),
        responses={200: TemplateOutputSerializer, 409: CONFLICT},
    )
    def patch(self, request: Request, template_id: str) -> Response:
        return self._update(request, template_id, partial=True)

    @extend_schema(
        responses={
            204: None,
            409: error_response(409, "Order events render this template (`template_in_use`)."),
        }
    )
    def delete(self, request: Request, template_id: str) -> Response:
        template = _template(template_id)
        try:
            template_delete(template=template)
        except TemplateInUse:
            raise TemplateInUseError(
                f"Order events render '{template.key}' on {template.channel}; change it, do not delete it."
            ) from None
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, template_id: str, *, partial: bool) -> Response:
        template = _template(template_id)
        data = validated(TemplateInputSerializer, request.data, partial=partial)
        template = _saved(lambda: template_update(template=template, fields=_fields(data)))
        return Response(TemplateOutputSerializer(template).data)


class TemplateVersionListApi(APIView):
    scopes = area(Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE)

    @extend_schema(
        responses=inline_serializer("TemplateVersions", {"results": TemplateVersionSerializer(many=True)})
    )
    def get(self, request: Request, template_id: str) -> Response:
        versions = template_versions(_template(template_id))
        return Response({"results": TemplateVersionSerializer(versions, many=True).data})


class TemplateRestoreApi(APIView):
    scopes = area(Scope.TEMPLATES_READ, Scope.TEMPLATES_WRITE)

    @extend_schema(request=None, responses=TemplateOutputSerializer)
    def post(self, request: Request, template_id: str, version: int) -> Response:
        template = _template(template_id)
        found = next((v for v in template_versions(template) if v.version == version), None)
        if found is None:
            raise Http404("No such version of this template.")
        template = _saved(lambda: template_restore(template=template, version=found))
        return Response(TemplateOutputSerializer(template).data)


class TemplatePreviewApi(APIView):
    scopes = every_method(Scope.TEMPLATES_READ)

    @extend_schema(
        request=PreviewInputSerializer,
        responses={
            200: PreviewOutputSerializer,
            404: error_response(404, "No customer or stored template with this id (`not_found`)."),
        },
        examples=[
            OpenApiExample(
                "An inline template",
                value={
                    "template": {"channel": "telegram", "body": "Hi {{ customer.name }}, {{ note }}"},
                    "customer": 1,
                    "context": {"note": "your parcel is on its way"},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = validated(PreviewInputSerializer, request.data)
        customer = None
        if "customer" in data:
            customer = customer_find(data["customer"])
            if customer is None:
                raise reference_not_found("customer", "No customer with this id.")
        try:
            rendered = template_preview(template=data["template"], customer=customer, context=data["context"])
        except TemplateInvalid as exc:
            # Over the budget: {"template": [...], "reason": ...}; a stored source that no longer
            # compiles: its field errors under "template".
            errors = exc.errors if "reason" in exc.errors else {"template": exc.errors}
            raise serializers.ValidationError(errors) from None
        return Response({"subject": rendered.subject, "body": rendered.body, "body_html": rendered.body_html})
