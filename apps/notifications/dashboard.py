"""The operator dashboard (an admin page): what the last 24 hours looked like, per channel and status,
what is waiting in the queues, which circuits are open, and the latest failures, ready to replay.

The chart is SVG drawn on the server: the admin stays free of JavaScript libraries and CDNs, and the
page works offline and behind strict content security policies.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from apps.api_gateway.metrics import queue_depths
from apps.notifications.channels import channel_factory
from apps.notifications.circuits import breaker_for
from apps.notifications.metrics import queues
from apps.notifications.models import Delivery, DeliveryStatus
from apps.notifications.outbox.sweep import deliveries_retry

HOURS = 24
STATUS_COLOURS = {
    DeliveryStatus.SENT: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.SKIPPED: "#9e9e9e",
    DeliveryStatus.RETRYING: "#ef6c00",
    DeliveryStatus.SENDING: "#1565c0",
    DeliveryStatus.QUEUED: "#90caf9",
    DeliveryStatus.CANCELLED: "#616161",
}
BAR_WIDTH, BAR_GAP, CHART_HEIGHT, AXIS = 22, 4, 140, 24
RECENT_FAILURES = 25


@dataclass(frozen=True)
class Bar:
    x: int
    y: float
    height: float
    colour: str
    title: str


def hourly_counts(now: datetime) -> dict[str, dict[datetime, dict[str, int]]]:
    """{channel: {hour: {status: count}}} for deliveries created in the last 24 hours (one query)."""
    since = now - timedelta(hours=HOURS)
    rows = (
        Delivery.objects.filter(created_at__gte=since)
        .annotate(hour=TruncHour("created_at"))
        .values_list("channel", "hour", "status")
        .annotate(n=Count("id"))
    )
    counts: dict[str, dict[datetime, dict[str, int]]] = {}
    for channel, hour, status, n in rows:
        counts.setdefault(channel, {}).setdefault(hour, {})[status] = n
    return counts


def chart_bars(per_hour: dict[datetime, dict[str, int]], hours: list[datetime], peak: int) -> list[Bar]:
    """Stacked bars, one per hour, scaled so that `peak` fills the chart's height."""
    bars = []
    for index, hour in enumerate(hours):
        base = float(CHART_HEIGHT)
        for status, colour in STATUS_COLOURS.items():
            n = per_hour.get(hour, {}).get(status, 0)
            if not n:
                continue
            height = max(1.0, CHART_HEIGHT * n / peak)
            base -= height
            bars.append(
                Bar(
                    x=AXIS + index * (BAR_WIDTH + BAR_GAP),
                    y=round(base, 1),
                    height=round(height, 1),
                    colour=colour,
                    title=f"{hour:%H}:00 UTC - {status}: {n}",
                )
            )
    return bars


def _queue_depths() -> dict[str, int] | None:
    try:
        return queue_depths(queues())
    except Exception:  # the embedded broker is not Redis; during an outage nothing can be read
        return None


def dashboard_context(now: datetime) -> dict[str, Any]:
    counts = hourly_counts(now)
    channels = sorted(set(channel_factory.names()) | set(counts))
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    hours = [first + timedelta(hours=i) for i in range(HOURS)]
    totals = [sum(by_status.values()) for per_hour in counts.values() for by_status in per_hour.values()]
    peak = max(totals, default=0) or 1
    charts = []
    for channel in channels:
        per_hour = counts.get(channel, {})
        by_status: dict[str, int] = {}
        for statuses in per_hour.values():
            for status, n in statuses.items():
                by_status[status] = by_status.get(status, 0) + n
        charts.append(
            {
                "channel": channel,
                "bars": chart_bars(per_hour, hours, peak),
                "totals": sorted(by_status.items()),
                "circuit": breaker_for(channel).state(),
            }
        )
    failures = (
        Delivery.objects.filter(status=DeliveryStatus.FAILED, updated_at__gte=now - timedelta(hours=HOURS))
        .select_related("notification")
        .order_by("-updated_at")[:RECENT_FAILURES]
    )
    width = AXIS + HOURS * (BAR_WIDTH + BAR_GAP)
    return {
        "charts": charts,
        "peak": peak,
        "width": width,
        "bar_width": BAR_WIDTH,
        "height": CHART_HEIGHT,
        "labels": [(AXIS + i * (BAR_WIDTH + BAR_GAP), f"{h:%H}") for i, h in enumerate(hours) if i % 3 == 0],
        "legend": list(STATUS_COLOURS.items()),
        "queues": _queue_depths(),
        "failures": list(failures),
        "now": now,
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _replay(request)
    context = {**admin.site.each_context(request), "title": "Notifications dashboard"}
    context.update(dashboard_context(timezone.now()))
    return render(request, "admin/notifications/dashboard.html", context)


@permission_required("notifications.change_delivery", raise_exception=True)
def _replay(request: HttpRequest) -> HttpResponse:
    ids = [int(pk) for pk in request.POST.getlist("delivery") if pk.isdigit()]
    count = deliveries_retry(delivery_ids=ids) if ids else 0
    messages.success(request, f"{count} failed deliveries queued again.")
    return HttpResponseRedirect(reverse("notifications-dashboard"))
