"""Minimal DRF endpoints for `make bench`: the same stack (API key, throttle, envelope) inserting one
row and reading one row of a table of their own, as the baselines the real endpoints are compared
with. Routed only by bench/urls.py (bench/settings.py)."""

import uuid

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.scopes import Scope, every_method
from bench.models import BenchRow


class RowSerializer(serializers.ModelSerializer):
    class Meta:
        model = BenchRow
        fields = ("id", "name", "at")


@extend_schema(exclude=True)
class BenchInsertApi(APIView):
    scopes = every_method(Scope.OPERATIONS)

    def post(self, request: Request) -> Response:
        row = BenchRow.objects.create(name=uuid.uuid4().hex, at=timezone.now())
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)


@extend_schema(exclude=True)
class BenchRowApi(APIView):
    scopes = every_method(Scope.OPERATIONS)

    def get(self, request: Request, row_id: int) -> Response:
        row = BenchRow.objects.filter(pk=row_id).first()
        if row is None:
            raise Http404("No such row.")
        return Response(RowSerializer(row).data)
