"""nginx/nginx.conf in front of two real gunicorn instances (started with bin/start web, as in the
Docker image): both answer through nginx, and when one is killed requests still succeed."""

import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from apps.api_gateway.services import api_key_create
from tests.fakes.processes import ROOT, Process
from tests.fakes.smtp import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render_conf(folder: Path, *, listen: int, upstreams: list[int]) -> Path:
    """The production file with only the addresses changed to loopback ports."""
    text = (ROOT / "nginx" / "nginx.conf").read_text()
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n" for p in upstreams)
    text = text.replace(
        "        server web1:8000 max_fails=2 fail_timeout=5s;\n"
        "        server web2:8000 max_fails=2 fail_timeout=5s;\n",
        servers,
    )
    assert servers in text
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("access_log /dev/stdout;", f"access_log {folder}/access.log;")
    path = folder / "nginx.conf"
    path.write_text(text)
    return path


def web_env(port: int, name: str) -> dict[str, str]:
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        WEB_PORT=str(port),
        WEB_CONCURRENCY="1",
        INSTANCE_NAME=name,
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    return env


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@pytest.fixture
def stack(tmp_path: Path, require_postgres: None) -> Iterator[tuple[str, list[Process]]]:
    if not Path(NGINX).exists():
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("nginx is required (.ci/run installs it)")
        pytest.skip("nginx is not installed")
    ports = [free_port(), free_port()]
    webs = []
    for index, port in enumerate(ports, start=1):
        process = Process(
            [str(ROOT / "bin" / "start"), "web"],
            env=web_env(port, f"web{index}"),
            log_path=tmp_path / f"web{index}.log",
        )
        webs.append(process.start())
        wait_until_up(f"http://127.0.0.1:{port}/health/db/")
    listen = free_port()
    conf = render_conf(tmp_path, listen=listen, upstreams=ports)
    nginx = Process(
        [NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", f"daemon off; pid {tmp_path}/nginx.pid;"],
        env=dict(os.environ),
        log_path=tmp_path / "nginx.log",
    ).start()
    wait_until_up(f"http://127.0.0.1:{listen}/health/db/")
    yield f"http://127.0.0.1:{listen}", webs
    nginx.stop(signal.SIGQUIT)
    for web in webs:
        web.stop()


def test_nginx_balances_over_both_gunicorns_and_survives_one_dying(stack: tuple[str, list[Process]]) -> None:
    url, webs = stack
    _, key = api_key_create(name="nginx")
    client = httpx.Client(base_url=url, headers={"Authorization": f"Api-Key {key}"}, timeout=10)

    served = Counter(client.get("/api/v1/customers/").headers.get("X-Served-By") for _ in range(20))
    created = client.post("/api/v1/customers/", json={"name": "Ada", "email": "ada@example.com"})
    traced = client.get("/health/db/", headers={"X-Request-ID": "through-nginx-1"})

    assert set(served) == {"web1", "web2"}
    assert created.status_code == 201
    assert traced.headers["X-Request-ID"] == "through-nginx-1"

    webs[0].stop(signal.SIGKILL)
    after = [client.get("/api/v1/customers/") for _ in range(20)]
    posts = [
        client.post("/api/v1/customers/", json={"name": f"B{i}", "email": f"b{i}@example.com"})
        for i in range(5)
    ]

    assert [r.status_code for r in after] == [200] * 20
    assert {r.headers.get("X-Served-By") for r in after} == {"web2"}
    assert [r.status_code for r in posts] == [201] * 5


def test_nginx_refuses_oversized_bodies_in_the_envelope(stack: tuple[str, list[Process]]) -> None:
    url, _ = stack

    response = httpx.post(
        f"{url}/api/v1/customers/", content=b"x" * 300_000, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
