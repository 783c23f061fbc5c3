"""nginx/nginx.conf in front of two real gunicorn instances (started with bin/start web, as in the
Docker image), with the certificate nginx/tls-self-signed.sh makes on first start: both answer through
nginx over TLS, when one is killed requests still succeed, plain HTTP redirects to HTTPS except
/health/, /admin/ and /metrics/ answer only private networks, and the unsubscribe token is masked in
both access logs."""

import os
import shutil
import signal
import ssl
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from apps.api_gateway.services import api_key_create
from tests.fakes.processes import ROOT, Process, free_port, stream_server
from tests.fakes.sse import SSEClient
from tests.fakes.worker import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render_conf(folder: Path, *, listen: int, plain: int, upstreams: list[int], stream: int) -> Path:
    """The production files with only the addresses changed to loopback ports (HTTPS on `listen`, on
    127.0.0.1 and on ::1, which is not among the private networks operators-only.conf allows)."""
    shutil.copy(ROOT / "nginx" / "operators-only.conf", folder / "operators-only.conf")
    text = (ROOT / "nginx" / "nginx.conf").read_text()
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n" for p in upstreams)
    text = text.replace(
        "        server web1:8000 max_fails=2 fail_timeout=5s;\n"
        "        server web2:8000 max_fails=2 fail_timeout=5s;\n",
        servers,
    )
    assert servers in text
    stream_server = "        server stream:8001 max_fails=2 fail_timeout=5s;\n"
    assert stream_server in text
    text = text.replace(stream_server, f"        server 127.0.0.1:{stream} max_fails=2 fail_timeout=5s;\n")
    for old, new in [
        ("listen 80;", f"listen 127.0.0.1:{plain};"),
        (
            "listen 443 ssl http2;",
            f"listen 127.0.0.1:{listen} ssl http2;\n        listen [::1]:{listen} ssl http2;",
        ),
        ("return 308 https://$host$request_uri;", f"return 308 https://$host:{listen}$request_uri;"),
        ("access_log /dev/stdout masked;", f"access_log {folder}/access.log masked;"),
    ]:
        assert old in text
        text = text.replace(old, new)
    path = folder / "nginx.conf"
    path.write_text(text)
    return path


@dataclass
class Stack:
    url: str  # HTTPS on 127.0.0.1
    plain_url: str  # HTTP
    port: int  # of HTTPS, also on [::1]
    webs: list[Process]
    folder: Path
    tls: ssl.SSLContext  # trusts the certificate nginx/tls-self-signed.sh made


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


def wait_until_up(url: str, verify: ssl.SSLContext | bool = True) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1, verify=verify)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@pytest.fixture
def stack(tmp_path: Path, require_postgres: None) -> Iterator[Stack]:
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
    stream, stream_url = stream_server(env=web_env(0, "stream"), log_path=tmp_path / "stream.log")
    listen, plain = free_port(), free_port()
    conf = render_conf(
        tmp_path, listen=listen, plain=plain, upstreams=ports, stream=int(stream_url.rsplit(":", 1)[1])
    )
    nginx = Process(
        [
            str(ROOT / "nginx" / "tls-self-signed.sh"),
            *[NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", f"daemon off; pid {tmp_path}/nginx.pid;"],
        ],
        env={**os.environ, "TLS_DIR": str(tmp_path / "tls")},
        log_path=tmp_path / "nginx.log",
    ).start()
    # Clients trust the certificate the script made (for localhost, 127.0.0.1 and ::1) and nothing else.
    deadline = time.monotonic() + 30
    while not (tmp_path / "tls" / "cert.pem").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    tls = ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))
    wait_until_up(f"https://127.0.0.1:{listen}/health/db/", verify=tls)
    yield Stack(f"https://127.0.0.1:{listen}", f"http://127.0.0.1:{plain}", listen, webs, tmp_path, tls)
    nginx.stop(signal.SIGQUIT)
    for web in [*webs, stream]:
        web.stop()


def test_nginx_balances_over_both_gunicorns_and_survives_one_dying(stack: Stack) -> None:
    url, webs = stack.url, stack.webs
    _, key = api_key_create(name="nginx")
    client = httpx.Client(
        base_url=url, headers={"Authorization": f"Api-Key {key}"}, timeout=10, verify=stack.tls
    )

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


def test_nginx_refuses_oversized_bodies_in_the_envelope(stack: Stack) -> None:
    url = stack.url

    response = httpx.post(
        f"{url}/api/v1/customers/",
        content=b"x" * 1_100_000,  # over nginx's 1m, like API_MAX_BODY_BYTES
        headers={"Content-Type": "application/json"},
        verify=stack.tls,
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_plain_http_redirects_to_https_except_health(stack: Stack) -> None:
    redirected = httpx.get(f"{stack.plain_url}/api/v1/customers/?page=2")
    health = httpx.get(f"{stack.plain_url}/health/db/")
    secure = httpx.get(f"{stack.url}/health/db/", verify=stack.tls)

    assert redirected.status_code == 308
    assert redirected.headers["location"] == f"https://127.0.0.1:{stack.port}/api/v1/customers/?page=2"
    assert health.status_code == 200
    assert secure.headers["strict-transport-security"] == "max-age=31536000"


def test_admin_and_metrics_answer_only_private_networks(stack: Stack) -> None:
    private = httpx.Client(base_url=stack.url, verify=stack.tls)
    public = httpx.Client(base_url=f"https://[::1]:{stack.port}", verify=stack.tls)  # ::1 is not listed

    assert private.get("/admin/login/").status_code == 200
    assert public.get("/admin/login/").status_code == 403
    assert public.get("/metrics/").status_code == 403
    assert public.get("/health/db/").status_code == 200


def test_the_unsubscribe_token_is_masked_in_both_access_logs(stack: Stack) -> None:
    token = "eyJjdXN0b21lciI6MX0:1sEcReT:signature-part"

    answer = httpx.get(f"{stack.url}/unsubscribe/{token}/", verify=stack.tls)

    assert answer.status_code == 400  # not a valid token: the page says so
    assert "no-store" in answer.headers["cache-control"]

    def logs() -> tuple[str, str]:
        web = "".join((stack.folder / f"web{i}.log").read_text() for i in (1, 2))
        return (stack.folder / "access.log").read_text(), web

    # Both write their line after the answer: wait for it rather than race it.
    assert wait_for(lambda: all("/unsubscribe/" in log for log in logs()), timeout=10)
    nginx_log, web_logs = logs()
    assert "/unsubscribe/***/" in nginx_log
    assert "/unsubscribe/***/" in web_logs
    assert token not in nginx_log + web_logs


def test_the_inbox_stream_passes_through_nginx_as_it_happens(stack: Stack) -> None:
    """nginx's stream location: each event reaches the browser when it is stored, not when a buffer fills."""
    from apps.customers.models import Customer
    from apps.inbox.services import InboxMessage, inbox_store
    from apps.inbox.tokens import token_issue
    from apps.notifications.models import Notification

    customer = Customer.objects.create(name="Ada", channels=["in_app"])
    client = SSEClient(f"{stack.url}/inbox/stream/?token={token_issue(customer.pk).token}", verify=stack.tls)
    client.open()
    try:
        assert client.status == 200
        assert client.wait(lambda c: c.of("counts"))
        notification = Notification.objects.create(customer=customer, event="custom", category="marketing")
        inbox_store([InboxMessage(1, notification.pk, customer.pk, "marketing", "Hi", "through nginx")])
        assert client.wait(lambda c: c.of("notification"))
        assert client.of("notification")[0].data["body"] == "through nginx"
    finally:
        client.close()
