"""Order endpoints: create, read, list, and change status."""

from django.http import Http404, HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.exceptions import Conflict, reference_not_found
from apps.api_gateway.pagination import PageNumberPagination, paginated_response
from apps.api_gateway.schema import error_response
from apps.api_gateway.scopes import Scope, area
from apps.api_gateway.serializers import FilterSerializer, StrictCharField, validated
from apps.orders.detail import order_detail
from apps.orders.insert import ExternalIdTaken, UnknownCustomer
from apps.orders.models import Order, OrderItem, OrderStatusChange
from apps.orders.output import order_output
from apps.orders.selectors import order_get, order_list
from apps.orders.services import ItemInput, order_change_status, order_create
from apps.orders.state_machine import IllegalTransition, OrderStatus
from core.db_router import reads_from_replica
from core.utils.ids import parse_id


class IllegalTransitionError(Conflict):
    default_code = "illegal_transition"


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": r"^\d{1,10}(?:\.\d{1,2})?$", "example": "9.99"}
)
class PriceField(serializers.DecimalField):
    """A non-negative amount with at most two decimals, as a string."""


class ItemInputSerializer(serializers.Serializer):
    sku = StrictCharField(max_length=64)
    name = StrictCharField(max_length=200)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    unit_price = PriceField(max_digits=12, decimal_places=2, min_value=0)


class OrderInputSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    items = serializers.ListField(
        child=ItemInputSerializer(), allow_empty=False, min_length=1, max_length=500
    )
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, default="EUR")
    external_id = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=100)


class OrderStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    note = StrictCharField(required=False, allow_blank=True, max_length=500, default="")


class OrderItemOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ("sku", "name", "quantity", "unit_price")


class StatusChangeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderStatusChange
        fields = ("from_status", "to_status", "note", "at")


class OrderOutputSerializer(serializers.ModelSerializer):
    items = OrderItemOutputSerializer(many=True, read_only=True)
    status_history = StatusChangeOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = (
            "id",
            "number",
            "customer",
            "status",
            "total",
            "currency",
            "external_id",
            "items",
            "status_history",
            "created_at",
            "updated_at",
        )


class OrderFilterSerializer(FilterSerializer):
    customer = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    status = serializers.ChoiceField(required=False, choices=OrderStatus.choices)
    external_id = serializers.CharField(required=False, min_length=1, max_length=100)


class OrderListApi(APIView):
    scopes = area(Scope.ORDERS_READ, Scope.ORDERS_WRITE)
    pagination_class = PageNumberPagination

    @extend_schema(parameters=[OrderFilterSerializer], responses=OrderOutputSerializer(many=True))
    @reads_from_replica
    def get(self, request: Request) -> Response:
        filters = validated(OrderFilterSerializer, request.query_params)
        queryset = order_list(
            customer_id=filters.get("customer"),
            status=filters.get("status"),
            external_id=filters.get("external_id"),
        )
        return paginated_response(
            request=request, view=self, queryset=queryset, serializer_class=OrderOutputSerializer
        )

    @extend_schema(
        request=OrderInputSerializer,
        responses={
            201: OrderOutputSerializer,
            404: error_response(404, "No customer with this id (`not_found`, `details.customer`)."),
            409: error_response(409, "An order with this external_id exists (`conflict`)."),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(OrderInputSerializer, request.data)
        try:
            order = order_create(
                customer_id=data["customer"],
                items=[ItemInput(**item) for item in data["items"]],
                currency=data["currency"],
                external_id=data.get("external_id"),
            )
        except UnknownCustomer:  # the foreign key decided; a database outage is not this
            raise reference_not_found("customer", "No customer with this id.") from None
        except ExternalIdTaken:
            message = "An order with this external_id exists."
            raise Conflict(message, details={"external_id": [message]}) from None
        return Response(order_output(order), status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    scopes = area(Scope.ORDERS_READ, Scope.ORDERS_WRITE)

    @extend_schema(responses=OrderOutputSerializer)
    def get(self, request: Request, order_id: str) -> HttpResponse:
        order = parse_id(order_id)
        if order is None:
            raise Http404("No order with this id.")
        return HttpResponse(order_detail(order), content_type="application/json")


class OrderStatusApi(APIView):
    scopes = area(Scope.ORDERS_READ, Scope.ORDERS_WRITE)

    @extend_schema(
        request=OrderStatusInputSerializer,
        responses={
            200: OrderOutputSerializer,
            409: error_response(409, "The order cannot move to that status (`illegal_transition`)."),
        },
    )
    def put(self, request: Request, order_id: str) -> Response:
        order = order_get(order_id)
        data = validated(OrderStatusInputSerializer, request.data)
        try:
            order = order_change_status(order=order, status=data["status"], note=data["note"])
        except IllegalTransition as exc:
            raise IllegalTransitionError(
                str(exc), details={"from": exc.source, "to": exc.target, "allowed": exc.allowed}
            ) from exc
        return Response(order_output(order_get(order.pk)))
