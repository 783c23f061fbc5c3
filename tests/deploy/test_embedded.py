"""The embedded configuration of `make run`: SQLite and the SQLite-backed Celery broker, no Redis.

These tests run the real commands in subprocesses against a temporary folder, the way a developer's
first `make run` does.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.sse import SSEClient

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _embedded_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.dev",
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        CELERY_BROKER_URL=f"sqla+sqlite:///{folder / 'broker.sqlite3'}",
        CELERY_BEAT_SCHEDULE_FILE=str(folder / "beat-schedule"),
        EMAIL_FILE_PATH=str(folder / "mail"),
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _serving(url: str) -> httpx.Response | None:
    """`url`'s /health/ answer once the process serves it (None after a minute)."""
    for _ in range(120):
        try:
            return httpx.get(f"{url}/health/", timeout=2)
        except httpx.TransportError:
            time.sleep(0.5)
    return None


def _order(base: str, headers: dict[str, str], customer_id: int) -> httpx.Response:
    item = {"sku": "M", "name": "Mug", "quantity": 1, "unit_price": "3"}
    return httpx.post(
        f"{base}/api/v1/orders/", json={"customer": customer_id, "items": [item]}, headers=headers
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _heartbeats(db: Path) -> list[tuple[str]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute("SELECT hostname FROM api_gateway_workerheartbeat"))


def test_check_migrate_seed_twice_and_create_key(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path)

    _manage(env, "check")
    _manage(env, "migrate", "--noinput")
    _manage(env, "migrate", "--noinput")
    first = _manage(env, "seed_demo")
    second = _manage(env, "seed_demo")
    key = _manage(env, "create_api_key", "demo").strip().splitlines()[-1]

    assert "Created 3 demo customers" in first
    assert "already present" in second
    with sqlite3.connect(tmp_path / "db.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM customers_customer").fetchone() == (3,)
        assert conn.execute("SELECT count(*) FROM orders_order").fetchone() == (3,)
    assert len(key) == 41


@pytest.fixture
def honcho(tmp_path: Path) -> Iterator[tuple[dict[str, str], int]]:
    """`make run`'s processes (web, worker, stream, scheduler from the Procfile) on a temporary folder."""
    env = _embedded_env(tmp_path)
    port = _free_port()
    env["WEB_PORT"], env["STREAM_PORT"] = str(port), str(_free_port())
    _manage(env, "migrate", "--noinput")
    log = (tmp_path / "honcho.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "honcho"), "start", "-f", "Procfile"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield env, port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_make_run_processes_serve_the_api_and_run_tasks(
    honcho: tuple[dict[str, str], int], tmp_path: Path
) -> None:
    env, port = honcho
    key = _manage(env, "create_api_key", "demo").strip().splitlines()[-1]
    base = f"http://127.0.0.1:{port}"
    health = _serving(base)
    assert health is not None, (tmp_path / "honcho.log").read_text()
    assert health.status_code == 200

    headers = {"Authorization": f"Api-Key {key}"}
    customer = httpx.post(
        f"{base}/api/v1/customers/", json={"name": "Ada", "email": "ada@example.com"}, headers=headers
    )
    assert customer.status_code == 201
    docs = httpx.get(f"{base}/api/docs/")
    bundle = httpx.get(f"{base}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert docs.status_code == 200
    assert bundle.status_code == 200

    # A task sent from another process reaches the worker through the SQLite broker.
    _manage(
        env, "shell", "-c", "from apps.api_gateway.tasks import worker_heartbeat; worker_heartbeat.delay()"
    )
    for _ in range(120):
        if _heartbeats(tmp_path / "db.sqlite3"):
            break
        time.sleep(0.5)
    assert _heartbeats(tmp_path / "db.sqlite3"), (tmp_path / "honcho.log").read_text()

    # An order's email goes the whole way on SQLite: outbox row, drain woken through the SQLite
    # broker, the batch claim without row locks, the file email backend.
    order = _order(base, headers, customer.json()["id"])
    assert order.status_code == 201
    mails: list[str] = []
    for _ in range(120):
        mails = (
            [p.read_text() for p in (tmp_path / "mail").glob("*.log")] if (tmp_path / "mail").exists() else []
        )
        if any(order.json()["number"] in mail for mail in mails):
            break
        time.sleep(0.5)
    assert any(order.json()["number"] in mail for mail in mails), (tmp_path / "honcho.log").read_text()[
        -3000:
    ]


def test_make_run_streams_the_inbox_without_redis(honcho: tuple[dict[str, str], int], tmp_path: Path) -> None:
    """The stream process of `make run` polls SQLite: an order's in_app message reaches an open stream."""
    env, port = honcho
    key = _manage(env, "create_api_key", "demo").strip().splitlines()[-1]
    headers, base = {"Authorization": f"Api-Key {key}"}, f"http://127.0.0.1:{port}"
    assert _serving(base) is not None, (tmp_path / "honcho.log").read_text()
    customer = httpx.post(
        f"{base}/api/v1/customers/",
        json={"name": "Ada", "channels": ["in_app"], "external_id": "ada-inbox"},
        headers=headers,
    )
    assert customer.status_code == 201, customer.text
    demo = _manage(env, "inbox_demo_url", "ada-inbox").strip().splitlines()[-1]
    assert demo.startswith(f"http://127.0.0.1:{env['STREAM_PORT']}/inbox/demo/?token=")
    stream = SSEClient(demo.replace("/inbox/demo/", "/inbox/stream/"))
    assert _serving(f"http://127.0.0.1:{env['STREAM_PORT']}") is not None
    stream.open()
    try:
        assert stream.wait(lambda s: s.of("counts"), timeout=30), (tmp_path / "honcho.log").read_text()[
            -3000:
        ]
        order = _order(base, headers, customer.json()["id"])
        assert order.status_code == 201
        assert stream.wait(lambda s: s.of("notification"), timeout=60), (tmp_path / "honcho.log").read_text()[
            -3000:
        ]
        assert order.json()["number"] in stream.of("notification")[0].data["subject"]
    finally:
        stream.close()
