"""`make bench` part c: the API through nginx and gunicorn (2 workers) with wrk, each endpoint beside a
minimal DRF endpoint on the same stack (API key, envelope) that inserts or reads one row. Run twice,
with CACHE_ENABLED=true and false, and the queries each request costs counted in-process for both."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.processes import Process
from tests.fakes.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "bench" / "results" / "logs"
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "8"))

# Each wrk thread numbers its requests, so every send carries a new text (no dedup skip).
LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local body = [[{body}]]
  body = body:gsub("#N#", (tid or 0) .. "-" .. n)
  body = body:gsub('"#C#"', tostring({first} + (n * 7 + (tid or 0)) % {audience}))
  return wrk.format("{method}", nil, {{["Content-Type"] = "application/json",
    ["Authorization"] = "Api-Key {key}"}}, "{method}" == "GET" and nil or body)
end
"""


# Sends go to many customers, as a shop's do: one customer's recent history (what the hourly cap and
# the dedup window read) stays as small as a real one's.
AUDIENCE = 1000
_first_reader = 0


def wrk(url: str, key: str, name: str, *, body: str = "", method: str = "POST") -> dict[str, Any]:
    script = LOGS / f"{name}.lua"
    script.write_text(LUA.format(body=body, key=key, method=method, first=_first_reader, audience=AUDIENCE))
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{WRK_SECONDS}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=WRK_SECONDS + 60,
    ).stdout
    (LOGS / f"{name}.wrk.txt").write_text(out)

    def latency(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return round(value / 1000 if unit == "us" else value * 1000 if unit == "s" else value, 2)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "req_per_s": rps,
        "p50_ms": latency("50%"),
        "p99_ms": latency("99%"),
        "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0),
    }


def bench_api(env: dict[str, str]) -> dict[str, Any]:
    from apps.api_gateway.services import api_key_create
    from apps.customers.models import Customer

    _, key = api_key_create(name="bench")
    customer = Customer.objects.create(
        name="Load", email="load@bench.example", telegram_chat_id="9001", channels=["email", "telegram"]
    )
    from bench.models import BenchRow

    row = BenchRow.objects.create(name="bench-row", at=customer.created_at)
    order = json.dumps(
        {
            "customer": customer.pk,
            "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "12.49"}],
        }
    )
    global _first_reader
    readers = Customer.objects.bulk_create(
        Customer(name=f"Reader {i}", email=f"reader{i}@bench.example", channels=["email"])
        for i in range(AUDIENCE)
    )
    _first_reader = readers[0].pk
    assert readers[-1].pk == _first_reader + AUDIENCE - 1  # one run of ids: the script counts on it
    send = json.dumps({"customer": "#C#", "message": "Hello {{ customer.name }} #N#", "channels": ["email"]})
    results: dict[str, Any] = {}
    order_id = 0
    for cache in ("true", "false"):
        with _stack({**env, "CACHE_ENABLED": cache}) as base:
            if not order_id:
                order_id = _post(base, key, "/api/v1/orders/", order)["id"]
                from apps.notifications.outbox.planner import order_events_plan

                order_events_plan(budget=10)  # no worker here: plan its notifications, as one would
            label = f"cache_{'on' if cache == 'true' else 'off'}"
            results[label] = {
                "baseline_insert": wrk(f"{base}/api/v1/bench/insert/", key, f"{label}-baseline", body="{}"),
                "baseline_get": wrk(f"{base}/api/v1/bench/rows/{row.pk}/", key, f"{label}-row", method="GET"),
                "create_order": wrk(f"{base}/api/v1/orders/", key, f"{label}-orders", body=order),
                "send_notification": wrk(f"{base}/api/v1/notifications/send/", key, f"{label}-send", body=send),
                "get_customer": wrk(f"{base}/api/v1/customers/{customer.pk}/", key, f"{label}-customer", method="GET"),
                "get_order": wrk(f"{base}/api/v1/orders/{order_id}/", key, f"{label}-order", method="GET"),
            }  # fmt: skip
            _ratios(results[label])
            results[label]["queries"] = queries_per_request(
                cache == "true", key, customer.pk, order_id, row.pk, order, send
            )
    # Database connections (cache on): kept per process is the default (CONN_MAX_AGE=60).
    for mode, extra in CONNECTION_MODES.items():
        with _stack({**env, **extra}) as base:
            results[mode] = {
                "baseline_get": wrk(f"{base}/api/v1/bench/rows/{row.pk}/", key, f"{mode}-row", method="GET"),
                "create_order": wrk(f"{base}/api/v1/orders/", key, f"{mode}-orders", body=order),
            }
    return results


CONNECTION_MODES = {
    "connection_per_request": {"CONN_MAX_AGE": "0"},
    "connection_pool": {"DATABASE_POOL": "true"},
}


def api_rows(api: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Table rows for run.py: each endpoint with the cache on, its baseline, and the cache off."""
    rows: list[tuple[str, str, str, Any]] = []
    on, off = api["cache_on"], api["cache_off"]
    for name in ("create_order", "send_notification", "get_customer", "get_order"):
        x, y = on[name], off[name]
        base = "baseline_insert" if name.startswith(("create", "send")) else "baseline_get"
        rows.append((
            f"API {name}", f"{x['req_per_s']}/s p50 {x['p50_ms']} p99 {x['p99_ms']} ms err {x['errors']}",
            f"{base} {on[base]['req_per_s']}/s", x["ratio_to_baseline"],
        ))  # fmt: skip
        rows.append((
            "  cache off", f"{y['req_per_s']}/s p99 {y['p99_ms']} ms; queries {off['queries'][name]}"
            f" (on: {on['queries'][name]})", f"{base} {off[base]['req_per_s']}/s", y["ratio_to_baseline"],
        ))  # fmt: skip
    for name in ("baseline_get", "create_order"):
        if not all(mode in api for mode in CONNECTION_MODES):
            break
        kept = on[name]["req_per_s"]
        figures = ", ".join(
            f"{mode.split('_', 1)[1]} {api[mode][name]['req_per_s']}/s" for mode in CONNECTION_MODES
        )
        rows.append((f"  {name} connections", f"kept {kept}/s; {figures}", "", ""))
    return rows


def _ratios(results: dict[str, Any]) -> None:
    insert, get = results["baseline_insert"]["req_per_s"], results["baseline_get"]["req_per_s"]
    for name, baseline in (("create_order", insert), ("send_notification", insert)):
        results[name]["ratio_to_baseline"] = round(results[name]["req_per_s"] / baseline, 2)
    for name in ("get_customer", "get_order"):
        results[name]["ratio_to_baseline"] = round(results[name]["req_per_s"] / get, 2)


def queries_per_request(
    cache: bool, key: str, customer_id: int, order_id: int, row_id: int, order: str, send: str
) -> dict[str, int]:
    """Queries of one request to each endpoint (after one warming request), counted in this process."""
    from django.db import connection
    from django.test import override_settings
    from rest_framework.test import APIClient

    client = APIClient(SERVER_NAME="localhost")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    calls = {
        "baseline_insert": lambda: client.post("/api/v1/bench/insert/", {}, format="json"),
        "baseline_get": lambda: client.get(f"/api/v1/bench/rows/{row_id}/"),
        "create_order": lambda: client.post("/api/v1/orders/", json.loads(order), format="json"),
        "send_notification": lambda: client.post(
            "/api/v1/notifications/send/",
            json.loads(send.replace("#N#", str(time.monotonic_ns())).replace('"#C#"', str(_first_reader))),
            format="json",
        ),
        "get_customer": lambda: client.get(f"/api/v1/customers/{customer_id}/"),
        "get_order": lambda: client.get(f"/api/v1/orders/{order_id}/"),
    }
    counts: dict[str, int] = {}
    with override_settings(CACHE_ENABLED=cache):
        for name, call in calls.items():
            call()
            seen: list[str] = []

            def count(execute: Any, sql: str, *args: Any, seen: list[str] = seen) -> Any:
                seen.append(sql)
                return execute(sql, *args)

            with connection.execute_wrapper(count):
                assert call().status_code < 300
            counts[name] = len(seen)
    return counts


def _post(base: str, key: str, path: str, body: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}{path}",
        content=body,
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


@contextmanager
def _stack(env: dict[str, str]) -> Iterator[str]:
    """gunicorn (2 workers) behind nginx, on free ports; yields the base URL."""
    web_port, nginx_port = free_port(), free_port()
    web = Process(
        [str(ROOT / "bin" / "start"), "web"],
        env={**env, "WEB_PORT": str(web_port), "WEB_CONCURRENCY": "2"},
        log_path=LOGS / "gunicorn.log",
    ).start()
    conf = (ROOT / "nginx" / "nginx.conf").read_text()
    conf = re.sub(
        r"    upstream gateway \{.*?\n    \}",
        f"    upstream gateway {{\n        server 127.0.0.1:{web_port};\n        keepalive 32;\n    }}",
        conf,
        flags=re.S,
    )
    # The HTTPS server's locations over plain HTTP (as the bench measured before TLS came in: the
    # ratios compare the app's endpoints, not the cipher); the plain server only redirects.
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{free_port()};").replace(
        "rate=50r/s", "rate=100000r/s"
    )
    conf = conf.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{nginx_port};")
    conf = re.sub(r"\n\s*ssl_[a-z_]+ [^;]+;", "", conf)
    shutil.copy(ROOT / "nginx" / "operators-only.conf", LOGS / "operators-only.conf")
    conf = conf.replace("access_log /dev/stdout masked;", "access_log off;")
    # No stream process in this part: its upstream only has to resolve.
    conf = conf.replace("server stream:8001", f"server 127.0.0.1:{free_port()}")
    (LOGS / "nginx.conf").write_text(conf)
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx = Process(
        [nginx_bin, "-p", str(LOGS), "-c", str(LOGS / "nginx.conf"), "-g", f"daemon off; pid {LOGS}/nginx.pid;"],
        env=env,
        log_path=LOGS / "nginx.log",
    ).start()  # fmt: skip
    base = f"http://127.0.0.1:{nginx_port}"
    try:
        for _ in range(300):  # until gunicorn itself answers through nginx (nginx alone answers 503)
            try:
                if httpx.get(f"{base}/health/db/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        nginx.stop(signal.SIGQUIT)
        web.stop()
