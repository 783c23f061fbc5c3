"""The webhooks app's counters (served by /metrics/ with everyone else's)."""

from prometheus_client import Counter

WEBHOOK_ATTEMPTS = Counter("notifications_webhook_attempts_total", "Webhook posts by result", ["result"])
