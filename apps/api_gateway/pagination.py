"""List pagination: {"count", "next", "previous", "results"} (or a cursor's {"next", "previous",
"results"}) with an optional page_size.

The query values are strict: a `page_size` or `page` that is not a whole number in its documented
range is a 400 naming the parameter (DRF would quietly fall back to the default or clamp it), so a
client's typo cannot look like a valid request, and the OpenAPI document states the ranges."""

import re
from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")
INT64_MAX = 2**63 - 1


def _whole_number(request: Request, name: str, *, maximum: int = INT64_MAX) -> int | None:
    """The query parameter `name` as an int from 1 to `maximum`, None when absent, else 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = int(raw) if WHOLE_NUMBER.fullmatch(raw) else 0
    if not 1 <= value <= maximum:
        raise serializers.ValidationError({name: [f"Give a whole number from 1 to {maximum}."]})
    return value


def _document_bounds(
    parameters: list[dict[str, Any]], bounds: dict[str, dict[str, int]]
) -> list[dict[str, Any]]:
    for parameter in parameters:
        if parameter["name"] in bounds:
            parameter["schema"] = {"type": "integer", **bounds[parameter["name"]]}
    return parameters


class StrictPageSize:
    """`page_size` from 1 to max_page_size, or 400."""

    page_size: int | None
    page_size_query_param: str | None = "page_size"
    max_page_size: int | None

    def get_page_size(self, request: Request) -> int | None:
        size = _whole_number(
            request, self.page_size_query_param or "page_size", maximum=self.max_page_size or 1
        )
        return self.page_size if size is None else size


class PageNumberPagination(StrictPageSize, pagination.PageNumberPagination):
    max_page_size = 200

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        number = _whole_number(request, self.page_query_param)
        return 1 if number is None else number

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return _document_bounds(
            super().get_schema_operation_parameters(view),
            {
                "page": {"minimum": 1, "maximum": INT64_MAX},
                "page_size": {"minimum": 1, "maximum": self.max_page_size},
            },
        )


class CursorPagination(StrictPageSize, pagination.CursorPagination):
    max_page_size = 200

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return _document_bounds(
            super().get_schema_operation_parameters(view),
            {"page_size": {"minimum": 1, "maximum": self.max_page_size}},
        )


def paginated_response(
    *, request: Request, view: APIView, queryset: QuerySet[Any], serializer_class: type[Serializer[Any]]
) -> Response:
    """One page of `queryset`, serialized, in the list envelope of the view's `pagination_class`.

    The attribute is also what drf-spectacular reads to document the envelope instead of a bare array.
    """
    paginator_class: type[pagination.BasePagination] = getattr(view, "pagination_class", PageNumberPagination)
    paginator = paginator_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
