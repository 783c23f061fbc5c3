"""Operations endpoints: health checks, Prometheus metrics (including counts from the worker's
processes), request ids that follow a request into its delivery, and no secret in any log."""

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.notifications.circuits import breaker_for
from tests.fakes.metrics import sample
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.worker import CeleryWorker, wait_for


@pytest.mark.django_db
def test_health_reports_every_check() -> None:
    response = Client().get("/health/")

    body = response.json()
    assert response.status_code == 200
    assert set(body["checks"]) == {"database", "redis", "celery", "channels", "inbox"}
    assert body["checks"]["inbox"]["transport"] in {"redis", "database"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["channels"]["telegram"] == {"configured": False, "circuit": "closed"}
    assert body["status"] in {"ok", "degraded"}


@pytest.mark.django_db
@pytest.mark.usefixtures("require_redis")
def test_health_db_and_redis() -> None:
    assert Client().get("/health/db/").json()["status"] == "ok"
    assert Client().get("/health/redis/").json()["status"] == "ok"


@pytest.mark.django_db
@pytest.mark.usefixtures("require_redis")
def test_health_celery_is_503_without_a_worker_heartbeat() -> None:
    # The cache flush before each test removed every heartbeat; no worker beats in this test.
    from django.core.cache import cache

    cache.clear()
    response = Client().get("/health/celery/")
    assert response.status_code == 503
    assert response.json()["status"] == "down"


@pytest.mark.usefixtures("integration")
def test_health_celery_sees_the_running_worker() -> None:
    body = wait_for(lambda: Client().get("/health/celery/").json().get("workers"), timeout=10)
    assert body
    assert Client().get("/health/celery/").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("require_redis")
def test_open_circuit_makes_health_degraded(settings: Any) -> None:
    breaker = breaker_for("telegram")
    for _ in range(settings.CIRCUIT_FAILURE_THRESHOLD):
        breaker.record_failure()

    body = Client().get("/health/").json()

    assert body["checks"]["channels"]["telegram"]["circuit"] == "open"
    assert body["status"] == "degraded"
    assert 'notifications_circuit_open{channel="telegram"} 1.0' in Client().get("/metrics/").content.decode()


@pytest.mark.django_db
def test_metrics_count_requests_by_route(api: APIClient) -> None:
    labels = {"method": "GET", "route": "/api/v1/customers/", "status": "200"}
    before = sample(Client().get("/metrics/").content.decode(), "notifications_http_requests_total", **labels)

    api.get("/api/v1/customers/")
    api.get("/api/v1/customers/")

    text = Client().get("/metrics/").content.decode()
    assert sample(text, "notifications_http_requests_total", **labels) - before == 2
    assert "notifications_queue_depth" in text


@pytest.mark.django_db
def test_scrapes_reuse_one_broker_connection(require_redis: str, settings: Any) -> None:
    """The queue depths come from the broker's Redis over a kept client, not a new connection per
    scrape (Prometheus scrapes every few seconds, forever)."""
    import redis

    broker = redis.Redis.from_url(str(settings.CELERY_BROKER_URL))
    Client().get("/metrics/")  # the first scrape of this process may connect

    before = broker.info("stats")["total_connections_received"]
    for _ in range(5):
        assert "notifications_queue_depth" in Client().get("/metrics/").content.decode()
    opened = broker.info("stats")["total_connections_received"] - before

    assert opened < 5  # the server's count: other clients of it may connect meanwhile


@pytest.mark.django_db
def test_metrics_can_be_restricted(settings: Any) -> None:
    settings.METRICS_TOKEN = "scrape-secret-123"
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert Client().get("/metrics/").status_code == 403
    assert Client().get("/metrics/", HTTP_AUTHORIZATION="Bearer scrape-secret-123").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics/").status_code == 200


def test_worker_counts_reach_metrics_and_request_id_reaches_delivery_logs(
    integration: CeleryWorker,
    api: APIClient,
    make_customer: Any,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log_start = integration.log_path.stat().st_size
    customer = make_customer(name="Ada", email="ada@example.com", telegram_chat_id=4242)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", integration.env["PROMETHEUS_MULTIPROC_DIR"])
    counted = {
        "notifications_deliveries_total": {"channel": "telegram", "status": "sent"},
        "notifications_delivery_attempts_total": {"channel": "email", "outcome": "sent"},
    }
    page = Client().get("/metrics/").content.decode()
    before = {name: sample(page, name, **labels) for name, labels in counted.items()}

    sent = api.post(
        "/api/v1/notifications/send/",
        {"customer": customer["id"], "message": "Hello"},
        format="json",
        HTTP_X_REQUEST_ID="req-trace-0001",
    )

    assert sent["X-Request-ID"] == "req-trace-0001"
    assert wait_for(lambda: fake_telegram.messages)

    def delivery_lines() -> list[dict[str, Any]]:
        with integration.log_path.open(errors="replace") as log:
            log.seek(log_start)
            lines = [json.loads(line) for line in log if line.startswith("{")]
        return [line for line in lines if line.get("delivery_id") and line.get("status") == "sent"]

    lines = wait_for(lambda: len(delivery_lines()) >= 2 and delivery_lines())
    assert {line["channel"] for line in lines} == {"telegram", "email"}
    assert {line["request_id"] for line in lines} == {"req-trace-0001"}

    worker_log = integration.log_path.read_text(errors="replace")[log_start:]
    assert "sendMessage" in worker_log  # httpx logged the Bot API URL...
    assert TOKEN not in worker_log  # ...without the token
    assert TOKEN not in caplog.text

    text = Client().get("/metrics/").content.decode()
    for name, labels in counted.items():
        assert sample(text, name, **labels) - before[name] == 1, name  # this send's, once each
    assert "notifications_delivery_latency_seconds_bucket" in text
