"""The inbox over HTTP (DESIGN 15): the shop's backend with its API key under
/api/v1/customers/{id}/inbox/, and the customer's browser with an inbox token under /inbox/."""

from typing import Any

from django.conf import settings
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.pagination import CursorPagination, paginated_response
from apps.api_gateway.schema import error_response
from apps.api_gateway.scopes import Scope, every_method
from apps.api_gateway.serializers import validated
from apps.api_gateway.throttling import FixedWindowThrottle
from apps.customers.selectors import customer_get
from apps.inbox.cors import with_cors
from apps.inbox.selectors import inbox_counts, inbox_items
from apps.inbox.serializers import (
    InboxCountsSerializer,
    InboxFilterSerializer,
    InboxItemSerializer,
    InboxMarkOutputSerializer,
    InboxMarkSerializer,
    InboxTokenSerializer,
)
from apps.inbox.services import inbox_mark
from apps.inbox.tokens import BadToken, InboxToken, token_check, token_from, token_issue


class InboxPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    max_page_size = 200


def _list(view: APIView, request: Request, customer_id: int) -> Response:
    filters = validated(InboxFilterSerializer, request.query_params)
    return paginated_response(
        request=request,
        view=view,
        queryset=inbox_items(customer_id, filters.get("status", "")),
        serializer_class=InboxItemSerializer,
    )


def _mark(request: Request, customer_id: int) -> Response:
    data = validated(InboxMarkSerializer, request.data)
    updated = inbox_mark(customer_id, mark=data["as"], ids=None if data.get("all") else data["ids"])
    return Response(InboxMarkOutputSerializer({"updated": updated}).data)


LIST_SCHEMA = extend_schema(parameters=[InboxFilterSerializer], responses=InboxItemSerializer(many=True))
COUNTS_SCHEMA = extend_schema(responses=InboxCountsSerializer)
MARK_SCHEMA = extend_schema(request=InboxMarkSerializer, responses=InboxMarkOutputSerializer)


# --- the shop's backend (API key, scope `inbox`) ---------------------------------------------------


class CustomerInboxApi(APIView):
    scopes = every_method(Scope.INBOX)
    pagination_class = InboxPagination

    @LIST_SCHEMA
    def get(self, request: Request, customer_id: str) -> Response:
        """The customer's inbox, newest first (cursor pages)."""
        return _list(self, request, customer_get(customer_id).pk)


class CustomerInboxCountsApi(APIView):
    scopes = every_method(Scope.INBOX)

    @COUNTS_SCHEMA
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(InboxCountsSerializer(inbox_counts(customer_get(customer_id).pk)).data)


class CustomerInboxMarkApi(APIView):
    scopes = every_method(Scope.INBOX)

    @MARK_SCHEMA
    def post(self, request: Request, customer_id: str) -> Response:
        """Mark items seen, read, unread or archived; `updated` counts the items that changed."""
        return _mark(request, customer_get(customer_id).pk)


class CustomerInboxTokenApi(APIView):
    scopes = every_method(Scope.INBOX)

    @extend_schema(request=None, responses={201: InboxTokenSerializer})
    def post(self, request: Request, customer_id: str) -> Response:
        """A signed token for this customer's browser (INBOX_TOKEN_TTL seconds)."""
        issued = token_issue(customer_get(customer_id).pk)
        body = InboxTokenSerializer({"token": issued.token, "expires_at": issued.expires_at}).data
        return Response(body, status=status.HTTP_201_CREATED)


# --- the customer's browser (inbox token) ----------------------------------------------------------


class InboxTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`, or `?token=` for reads (what a page can put in a link or an
    EventSource URL; a change is never made on the strength of a URL): the customer the token names."""

    def authenticate(self, request: Request) -> tuple[Any, InboxToken]:
        query = request.query_params.get("token") if request.method in ("GET", "HEAD") else None
        try:
            raw = token_from(query, request.META.get("HTTP_AUTHORIZATION"))
            token = token_check(raw)
        except BadToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return None, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="inbox"'


class HasInboxToken(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, InboxToken)


TOKEN_PARAMETER = OpenApiParameter(
    "token", str, required=False, description="The inbox token, when no Authorization header is sent."
)
UNAUTHORIZED = {401: error_response(401, "A missing, bad or expired inbox token (`not_authenticated`).")}


class InboxCustomerThrottle(FixedWindowThrottle):
    """INBOX_THROTTLE_RATE per customer on the browser's routes: the token is a bearer credential a
    page holds, so a script looping with it is held back per customer, whatever address it comes from
    (nginx's per-address limit covers /api/ only)."""

    scope = "inbox"

    def rate(self) -> str | None:
        return str(settings.INBOX_THROTTLE_RATE)

    def ident(self, request: Request) -> object | None:
        return request.auth.customer_id if isinstance(request.auth, InboxToken) else None


class BrowserApi(APIView):
    authentication_classes = [InboxTokenAuthentication]
    permission_classes = [HasInboxToken]
    throttle_classes = [InboxCustomerThrottle]

    def customer_id(self, request: Request) -> int:
        token = request.auth
        if not isinstance(token, InboxToken):  # HasInboxToken lets nothing else through
            raise exceptions.NotAuthenticated()
        return token.customer_id


@method_decorator(with_cors, name="dispatch")
class BrowserInboxApi(BrowserApi):
    pagination_class = InboxPagination

    @extend_schema(
        parameters=[InboxFilterSerializer, TOKEN_PARAMETER],
        responses={200: InboxItemSerializer(many=True), **UNAUTHORIZED},
    )
    def get(self, request: Request) -> Response:
        return _list(self, request, self.customer_id(request))


@method_decorator(with_cors, name="dispatch")
class BrowserInboxCountsApi(BrowserApi):
    @extend_schema(parameters=[TOKEN_PARAMETER], responses={200: InboxCountsSerializer, **UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(InboxCountsSerializer(inbox_counts(self.customer_id(request))).data)


@method_decorator(with_cors, name="dispatch")
class BrowserInboxMarkApi(BrowserApi):
    @extend_schema(
        request=InboxMarkSerializer,
        responses={200: InboxMarkOutputSerializer, **UNAUTHORIZED},
    )
    def post(self, request: Request) -> Response:
        return _mark(request, self.customer_id(request))
