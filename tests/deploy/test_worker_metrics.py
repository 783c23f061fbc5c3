"""Every worker host has its own Prometheus endpoint: a worker started with `bin/start worker`, as on
another machine (its own metrics directory and port, or none given at all), shows the deliveries it
made at http://127.0.0.1:WORKER_METRICS_PORT/metrics, with no web process sharing its directory."""

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.customers.models import Customer
from tests.fakes.processes import ROOT, Process, gunicorn
from tests.fakes.smtp import FakeSMTP, free_port
from tests.fakes.telegram import FakeTelegram
from tests.fakes.worker import broker_purge, seed_default_templates, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DEFAULT_DIR = ROOT / "var" / "prometheus" / "worker"


def started(worker: Process) -> bool:
    return b" ready." in worker.log_path.read_bytes()


@pytest.fixture(params=["own directory", "no directory given"])
def worker_host(
    request: pytest.FixtureRequest,
    require_redis: str,
    fake_telegram: FakeTelegram,
    fake_smtp: FakeSMTP,
    tmp_path: Path,
) -> Iterator[tuple[httpx.Client, int, Path]]:
    """gunicorn and a `bin/start worker` on a Redis database of their own (the session's worker must
    not take these tasks)."""
    seed_default_templates()
    broker = require_redis.rsplit("/", 1)[0] + "/10"
    broker_purge(broker)
    port = free_port()
    env = worker_env(
        fake_telegram=fake_telegram,
        fake_smtp=fake_smtp,
        CELERY_BROKER_URL=broker,
        # Turns and wake flags apart from the session worker's too (core/wake.py).
        REDIS_URL=broker,
        WORKER_METRICS_PORT=str(port),
        WORKER_METRICS_ADDR="127.0.0.1",
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    directory = DEFAULT_DIR
    if request.param == "own directory":
        directory = tmp_path / "metrics"
        directory.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    else:
        DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
        (DEFAULT_DIR / "counter_999999.db").write_bytes(b"left over from an earlier run")
    worker = Process(
        [str(ROOT / "bin" / "start"), "worker"], env=env, log_path=tmp_path / "worker.log"
    ).start()
    web, url = gunicorn(env={k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
                        log_path=tmp_path / "gunicorn.log", workers=1)  # fmt: skip
    _, key = api_key_create(name="metrics")
    fake_smtp.reset()
    try:
        assert wait_for(lambda: started(worker), timeout=60), worker.log_path.read_text()
        yield (
            httpx.Client(base_url=url, headers={"Authorization": f"Api-Key {key}"}, timeout=10),
            port,
            directory,
        )
    finally:
        web.stop()
        worker.stop()
        broker_purge(broker)
        if directory == DEFAULT_DIR:
            shutil.rmtree(DEFAULT_DIR, ignore_errors=True)


def test_a_worker_shows_its_deliveries_at_its_own_endpoint(
    worker_host: tuple[httpx.Client, int, Path], fake_smtp: FakeSMTP
) -> None:
    client, port, directory = worker_host
    customers = [
        Customer.objects.create(name=f"M{i}", email=f"m{i}@example.com", channels=["email"]) for i in range(3)
    ]
    for customer in customers:
        assert (
            client.post(
                "/api/v1/notifications/send/", json={"customer": customer.pk, "message": "Hi"}
            ).status_code
            == 202
        )

    assert wait_for(lambda: len(fake_smtp.messages) == 3, timeout=60)

    def scraped() -> str:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return text if 'notifications_deliveries_total{channel="email",status="sent"} 3.0' in text else ""

    text = wait_for(scraped, timeout=10)
    assert 'notifications_deliveries_total{channel="email",status="sent"} 3.0' in text
    assert 'notifications_delivery_attempts_total{channel="email",outcome="sent"} 3.0' in text
    assert any(name.startswith("counter_") for name in os.listdir(directory))
    assert not (directory / "counter_999999.db").exists()  # the default directory was emptied at start
