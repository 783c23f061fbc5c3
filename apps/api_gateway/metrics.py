"""Prometheus metrics: the HTTP counters, /metrics/, and the registry of what other apps read at scrape
time. Each app keeps its own counters (apps/notifications/metrics.py, apps/webhooks/metrics.py).

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
from collections.abc import Callable, Iterable, Iterator
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
from prometheus_client.metrics_core import Metric
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


# What other apps measure at scrape time (circuit states, queue depths, backlogs): each a function
# yielding metric families, registered in its app's AppConfig.ready(). They are read live, not counted.
SCRAPE_COLLECTORS: list[Callable[[], Iterable[Metric]]] = []


def collector_register(collect: Callable[[], Iterable[Metric]]) -> None:
    if collect not in SCRAPE_COLLECTORS:
        SCRAPE_COLLECTORS.append(collect)


class _ScrapeTime:
    """The registered collectors, as one prometheus-client collector."""

    def collect(self) -> Iterator[Metric]:
        for collect in SCRAPE_COLLECTORS:
            yield from collect()


def broker_is_redis() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith(("redis", "sentinel"))


@functools.lru_cache(maxsize=4)
def _broker_client(pid: int, url: str, master: str) -> redis.Redis:
    """One client (and connection pool) per process and broker, not a new one per scrape."""
    from core.redis_config import broker_client

    return broker_client(url, master=master)


def queue_depths(queues: Iterable[str]) -> dict[str, int]:
    """LLEN of each queue, summed over its priority sub-queues, on the broker's Redis."""
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    steps = cast(list[int], options.get("priority_steps", [0]))
    client = _broker_client(os.getpid(), str(settings.CELERY_BROKER_URL), settings.REDIS_SENTINEL_MASTER)
    depths = {}
    for queue in queues:
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
    live.register(_ScrapeTime())
    return HttpResponse(counted + generate_latest(live), content_type=CONTENT_TYPE_LATEST)
