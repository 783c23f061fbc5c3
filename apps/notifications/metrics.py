"""The notifications app's metrics: counters updated where things happen, and what /metrics/ reads at
scrape time (circuit states and queue depths from Redis, the outbox backlog from the database),
registered with the gateway's /metrics/ in this app's ready()."""

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from apps.api_gateway.metrics import broker_is_redis, queue_depths
from apps.notifications.channels import channel_factory
from apps.notifications.circuits import breaker_for, provider_breakers
from apps.notifications.dispatch import queue_of
from apps.notifications.models import Delivery
from core.patterns.circuit_breaker import CLOSED

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
WAITS = Counter(
    "notifications_rate_limit_waits_total",
    "Deliveries given back without a provider call (rate limit, circuit, order)",
    ["channel", "reason"],
)
SUPPRESSIONS = Counter(
    "notifications_suppressions_total", "Addresses put on the suppression list", ["reason"]
)
PROVIDER_CALLS = Counter(
    "notifications_email_provider_calls_total", "Email provider calls", ["provider", "outcome"]
)
PROVIDER_EVENTS = Counter(
    "notifications_provider_events_total",
    "Tracking events posted by email providers, by what came of them",
    ["provider", "type", "result"],
)


def queues() -> list[str]:
    """Every queue the service routes to: `default` and one per channel."""

    return ["default", *(queue_of(name) for name in channel_factory.names())]


def collect_circuits() -> Iterator[Metric]:

    circuit = GaugeMetricFamily(
        "notifications_circuit_open", "1 when the channel's circuit is open or half-open", labels=["channel"]
    )
    for channel in channel_factory.names():
        circuit.add_metric([channel], 0.0 if breaker_for(channel).state() == CLOSED else 1.0)
    for name, breaker in provider_breakers().items():
        circuit.add_metric([name], 0.0 if breaker.state() == CLOSED else 1.0)
    yield circuit


def collect_queue_depths() -> Iterator[Metric]:

    depth = GaugeMetricFamily("notifications_queue_depth", "Tasks waiting in a queue", labels=["queue"])
    if broker_is_redis():
        try:
            for queue, count in queue_depths(queues()).items():
                depth.add_metric([queue], float(count))
        except Exception:  # noqa: S110 - a scrape during a Redis outage shows no depth, not an error
            pass
    yield depth


def collect_outbox_due() -> Iterator[Metric]:
    """Deliveries due now and not yet taken, per channel: the outbox backlog (the broker holds only
    drain wake-ups, so its queue depth says little about what is waiting)."""

    due = GaugeMetricFamily(
        "notifications_outbox_due", "Deliveries due and waiting to be sent", labels=["channel"]
    )
    try:
        for row in Delivery.objects.due().values("channel").annotate(n=Count("id")):
            due.add_metric([row["channel"]], float(row["n"]))
    except Exception:  # noqa: S110 - a scrape while the database is down shows no backlog, not an error
        pass
    yield due
