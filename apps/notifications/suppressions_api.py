"""The suppression list over the API (DESIGN section 13): list (filtered by channel and address),
add an address by hand, take one off. The list is the shop's, not one API key's."""

from django.core.validators import validate_email
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.pagination import CursorPagination, paginated_response
from apps.api_gateway.scopes import Scope, every_method
from apps.api_gateway.serializers import FilterSerializer, validated
from apps.notifications.channels import CHANNEL_CHOICES
from apps.notifications.models import Suppression, SuppressionReason
from apps.notifications.suppressions import address_key, suppression_create, suppression_delete
from core.utils.ids import parse_id


class SuppressionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suppression
        fields = ("id", "channel", "address", "reason", "created_at", "delivery")


class SuppressionInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=CHANNEL_CHOICES)
    address = serializers.CharField(
        max_length=254,
        help_text="An email address (when `channel` is email: else 400), a Telegram chat id...",
    )
    reason = serializers.ChoiceField(
        choices=[SuppressionReason.MANUAL], default=SuppressionReason.MANUAL, required=False
    )

    def validate(self, data: dict[str, str]) -> dict[str, str]:
        if data["channel"] == "email":
            try:
                validate_email(data["address"].strip())
            except Exception:
                raise serializers.ValidationError({"address": ["Enter a valid email address."]}) from None
        return data


class SuppressionFilterSerializer(FilterSerializer):
    channel = serializers.ChoiceField(choices=CHANNEL_CHOICES, required=False)
    address = serializers.CharField(
        max_length=254, required=False, help_text="Exact; email case-insensitive."
    )


class SuppressionPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    max_page_size = 200


class SuppressionListApi(APIView):
    scopes = every_method(Scope.SUPPRESSIONS_MANAGE)
    pagination_class = SuppressionPagination

    @extend_schema(parameters=[SuppressionFilterSerializer], responses=SuppressionOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = validated(SuppressionFilterSerializer, request.query_params)
        queryset = Suppression.objects.all()
        if filters.get("channel"):
            queryset = queryset.filter(channel=filters["channel"])
        if filters.get("address"):
            queryset = queryset.filter(
                address=address_key(filters.get("channel") or "email", filters["address"])
            )
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=SuppressionOutputSerializer
        )

    @extend_schema(
        request=SuppressionInputSerializer,
        responses={201: SuppressionOutputSerializer, 200: SuppressionOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        """List an address: 201; 200 with the existing entry when it is listed already."""
        data = validated(SuppressionInputSerializer, request.data)
        entry, created = suppression_create(
            channel=data["channel"], address=data["address"], reason=data["reason"]
        )
        return Response(
            SuppressionOutputSerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SuppressionDetailApi(APIView):
    scopes = every_method(Scope.SUPPRESSIONS_MANAGE)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, suppression_id: str) -> Response:
        """Take the address off the list: the next message to it goes out."""
        entry = Suppression.objects.filter(pk=parse_id(suppression_id) or 0).first()
        if entry is None:
            raise Http404("No suppression with this id.")
        suppression_delete(entry)
        return Response(status=status.HTTP_204_NO_CONTENT)
