"""The inbox's metrics (served by /metrics/ of whichever process counts them)."""

from prometheus_client import Counter, Gauge

STREAMS_OPEN = Gauge(
    "inbox_streams_open", "Server-Sent Event streams open in this process", multiprocess_mode="livesum"
)
EVENTS_PUBLISHED = Counter("inbox_events_published_total", "Inbox events stored and published", ["kind"])
EVENTS_STREAMED = Counter(
    "inbox_events_streamed_total", "Events written to open streams, replays included", ["kind"]
)
PUBLISH_FAILURES = Counter(
    "inbox_publish_failures_total", "Publishes Redis refused (the stream processes' poll finds those events)"
)
