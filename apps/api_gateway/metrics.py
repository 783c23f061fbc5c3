"""Prometheus metrics: counters updated where things happen, gauges read from Redis at scrape time.

Several gunicorn workers and Celery pool processes each count in their own memory; with
PROMETHEUS_MULTIPROC_DIR set (make run, Docker) prometheus-client's multiprocess mode writes them to
files in that directory and /metrics/ sums them. Processes on one machine may share the directory
(make run); each worker host also serves the files of its own directory on WORKER_METRICS_PORT
(core/worker_metrics.py), so workers on other machines are scraped directly. Gauges that describe
shared state (queue depth, circuits) are not counted anywhere: they are read from Redis when
/metrics/ is scraped.
"""

import functools
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from typing import cast

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

HTTP_REQUESTS = Counter(
    "notifications_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "notifications_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
NOTIFICATIONS = Counter("notifications_notifications_total", "Notifications created", ["event"])
DELIVERIES = Counter(
    "notifications_deliveries_total", "Deliveries that reached a final status", ["channel", "status"]
)
DELIVERY_LATENCY = Histogram(
    "notifications_delivery_latency_seconds",
    "From the delivery's creation to the provider accepting it",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
ATTEMPTS = Counter("notifications_delivery_attempts_total", "Provider calls", ["channel", "outcome"])
RETRIES = Counter(
    "notifications_delivery_retries_total", "Deliveries scheduled for another attempt", ["channel"]
)
WEBHOOK_ATTEMPTS = Counter("notifications_webhook_attempts_total", "Webhook posts by result", ["result"])
WAITS = Counter(
    "notifications_rate_limit_waits_total",
    "Deliveries given back without a provider call (rate limit, circuit, order)",
    ["channel", "reason"],
)


class MetricsMiddleware:
    """Counts every request by its URL pattern (not its path, which would explode the label set)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = f"/{match.route}" if match is not None and match.route else "unmatched"
        HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if settings.INSTANCE_NAME:
            response["X-Served-By"] = settings.INSTANCE_NAME
        return response


class SharedStateCollector:
    """Queue depths, circuit states (Redis) and the outbox backlog (database), read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from apps.notifications.channels import channel_factory
        from apps.notifications.circuits import breaker_for

        circuit = GaugeMetricFamily(
            "notifications_circuit_open",
            "1 when the channel's circuit is open or half-open",
            labels=["channel"],
        )
        for channel in channel_factory.names():
            circuit.add_metric([channel], 0.0 if breaker_for(channel).state() == "closed" else 1.0)
        yield circuit
        depth = GaugeMetricFamily("notifications_queue_depth", "Tasks waiting in a queue", labels=["queue"])
        if str(settings.CELERY_BROKER_URL).startswith(("redis", "sentinel")):
            try:
                for queue, count in queue_depths().items():
                    depth.add_metric([queue], float(count))
            except Exception:  # noqa: S110 - a scrape during a Redis outage shows no depth, not an error
                pass
        yield depth
        yield outbox_due()


def outbox_due() -> GaugeMetricFamily:
    """Deliveries due now and not yet taken, per channel: the outbox backlog (the broker holds only
    drain wake-ups, so its queue depth says little about what is waiting)."""
    from django.db.models import Count
    from django.utils import timezone

    from apps.notifications.models import Delivery, DeliveryStatus

    due = GaugeMetricFamily(
        "notifications_outbox_due", "Deliveries due and waiting to be sent", labels=["channel"]
    )
    try:
        rows = (
            Delivery.objects.filter(
                status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRYING],
                next_attempt_at__lte=timezone.now(),
            )
            .values("channel")
            .annotate(n=Count("id"))
        )
        for row in rows:
            due.add_metric([row["channel"]], float(row["n"]))
    except Exception:  # noqa: S110 - a scrape while the database is down shows no backlog, not an error
        pass
    return due


@functools.lru_cache(maxsize=4)
def _broker_client(pid: int, url: str, master: str) -> redis.Redis:
    """One client (and connection pool) per process and broker, not a new one per scrape."""
    from core.redis_config import broker_client

    return broker_client(url, master=master)


def queue_depths() -> dict[str, int]:
    """LLEN of each queue, summed over its priority sub-queues, on the broker's Redis."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    steps = cast(list[int], options.get("priority_steps", [0]))
    client = _broker_client(os.getpid(), str(settings.CELERY_BROKER_URL), settings.REDIS_SENTINEL_MASTER)
    depths = {}
    from apps.notifications.channels import channel_factory

    for queue in ("default", *(f"notifications.{name}" for name in channel_factory.names())):
        names = [queue if step == 0 else f"{queue}\x06\x16{step}" for step in steps]  # kombu's naming
        pipe = client.pipeline()
        for name in names:
            pipe.llen(name)
        depths[queue] = sum(pipe.execute())
    return depths


def _allowed(request: HttpRequest) -> bool:
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        return True
    if token and request.headers.get("Authorization") == f"Bearer {token}":
        return True
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    live = CollectorRegistry()
    live.register(SharedStateCollector())
    return HttpResponse(counted + generate_latest(live), content_type=CONTENT_TYPE_LATEST)
