"""Every worker host has its own Prometheus endpoint: a worker started with `bin/start worker`, as on
another machine (its own metrics directory and port, or none given at all), shows the deliveries it
made at http://127.0.0.1:WORKER_METRICS_PORT/metrics, with no web process sharing its directory."""

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from apps.api_gateway.services import api_key_create
from apps.customers.models import Customer
from tests.fakes.processes import ROOT, Process, free_port
from tests.fakes.smtp import FakeSMTP
from tests.fakes.stack import Stack
from tests.fakes.worker import seed_default_templates, wait_for

pytestmark = [pytest.mark.slow]

DEFAULT_DIR = ROOT / "var" / "prometheus" / "worker"


def started(worker: Process) -> bool:
    return b" ready." in worker.log_path.read_bytes()


@pytest.fixture(params=["own directory", "no directory given"])
def worker_host(
    request: pytest.FixtureRequest, stacks: Callable[..., Stack], fake_smtp: FakeSMTP
) -> Iterator[tuple[httpx.Client, int, Path]]:
    """gunicorn and a `bin/start worker` on a Redis database of their own (the session's worker must
    not take these tasks)."""
    seed_default_templates()
    port = free_port()
    stack = stacks(
        worker=False,
        web=True,
        WORKER_METRICS_PORT=str(port),
        WORKER_METRICS_ADDR="127.0.0.1",
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        PROMETHEUS_MULTIPROC_DIR=None,  # the web process keeps its own
    )
    env = dict(stack.env)
    directory = DEFAULT_DIR
    if request.param == "own directory":
        directory = stack.directory / "metrics"
        directory.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    else:
        DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
        (DEFAULT_DIR / "counter_999999.db").write_bytes(b"left over from an earlier run")
    worker = Process(
        [str(ROOT / "bin" / "start"), "worker"], env=env, log_path=stack.directory / "worker.log"
    )
    stack.processes.append(worker.start())
    fake_smtp.reset()
    try:
        assert wait_for(lambda: started(worker), timeout=60), stack.logs()
        yield stack.client(api_key_create(name="metrics")[1]), port, directory
    finally:
        worker.stop()
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
