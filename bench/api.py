"""`make bench` part c: the API through nginx and gunicorn (2 workers) with wrk: POST /orders/,
POST /notifications/send/, and a minimal DRF endpoint inserting one row on the same stack."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fakes.processes import Process
from tests.fakes.smtp import free_port

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "bench" / "results" / "logs"
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "8"))


LUA = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Api-Key {key}"
"""


def wrk(url: str, key: str, body: str, name: str) -> dict[str, Any]:
    script = LOGS / f"{name}.lua"
    script.write_text(LUA.format(body=body, key=key))
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
    customer = Customer.objects.create(name="Load", email="load@bench.example", channels=["email"])
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
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};").replace(
        "rate=50r/s", "rate=100000r/s"
    )
    conf = conf.replace("access_log /dev/stdout;", "access_log off;")
    (LOGS / "nginx.conf").write_text(conf)
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx = Process(
        [
            nginx_bin,
            "-p",
            str(LOGS),
            "-c",
            str(LOGS / "nginx.conf"),
            "-g",
            f"daemon off; pid {LOGS}/nginx.pid;",
        ],
        env=env,
        log_path=LOGS / "nginx.log",
    ).start()
    base = f"http://127.0.0.1:{nginx_port}"
    for _ in range(300):  # until gunicorn itself answers through nginx (nginx alone answers 503)
        try:
            if httpx.get(f"{base}/health/db/", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    order = json.dumps(
        {
            "customer": customer.pk,
            "items": [{"sku": "MUG", "name": "Mug", "quantity": 2, "unit_price": "12.49"}],
        }
    )
    send = json.dumps(
        {"customer": customer.pk, "message": "Hello {{ customer.name }}", "channels": ["email"]}
    )
    try:
        results = {
            "baseline_insert": wrk(f"{base}/api/v1/bench/insert/", key, "{}", "baseline"),
            "create_order": wrk(f"{base}/api/v1/orders/", key, order, "orders"),
            "send_notification": wrk(f"{base}/api/v1/notifications/send/", key, send, "send"),
        }
    finally:
        nginx.stop(signal.SIGQUIT)
        web.stop()
    baseline = results["baseline_insert"]["req_per_s"]
    for name in ("create_order", "send_notification"):
        results[name]["ratio_to_baseline"] = round(results[name]["req_per_s"] / baseline, 2)
    return results
