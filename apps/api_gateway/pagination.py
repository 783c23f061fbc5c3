"""List pagination: {"count", "next", "previous", "results"} with an optional page_size."""

from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


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
