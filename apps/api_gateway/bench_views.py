"""A minimal DRF endpoint for `make bench`: the same stack (API key, throttle, envelope) inserting one
row, as the baseline the real endpoints are compared with. Routed only when BENCH_ENDPOINTS is on."""

import uuid

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api_gateway.models import WorkerHeartbeat


@extend_schema(exclude=True)
class BenchInsertApi(APIView):
    def post(self, request: Request) -> Response:
        row = WorkerHeartbeat.objects.create(hostname=uuid.uuid4().hex, seen_at=timezone.now())
        return Response({"id": row.pk}, status=status.HTTP_201_CREATED)
