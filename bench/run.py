"""`make bench`: end-to-end figures on PostgreSQL and Redis, each beside a baseline measured in the
same run. Bounded (a few minutes). Prints a table and writes bench/results/latest.json.

a. email: a backlog of N order emails drained by one worker (as `bin/start worker` starts it) into an
   aiosmtpd sink in its own process, vs one reused smtplib connection to the same sink (sending one
   prebuilt message over and over, and building each order email as any sender must); the same
   backlog again beside a 300-message Telegram backlog; and order -> email latency at a steady
   50 orders/s;
b. telegram: a backlog of 600 messages to 600 chats against the fake enforcing 30/s: drain time vs
   the ideal 20 s, 429 answers, and how soon a slot of the bot's window is used again;
c. API through nginx and gunicorn (2 workers) with wrk (bench/api.py): POST /orders/,
   POST /notifications/send/, GET /customers/{id}/ and /orders/{id}/, beside minimal DRF endpoints
   inserting and reading one row on the same stack; with the cache on and off, and queries per request;
d. broadcast to every customer: time to write and enqueue, memory, delivery rate;
e. scheduled sends and digests, with the scheduler running (bench/schedule.py);
f. email providers: failover when the SMTP sink stops, tracking latency (bench/providers.py);
g. the in-app inbox's live stream: order -> event latency with 1,000 streams open, memory per idle
   stream with 5,000 open (bench/inbox.py).
BENCH_PARTS=ab runs only parts a and b.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import api_rows, bench_api  # noqa: E402
from bench.delivery import (  # noqa: E402
    LATENCY_RATE,
    LATENCY_SECONDS,
    N_EMAIL,
    N_MIXED_TELEGRAM,
    N_TELEGRAM,
    bench_drain,
    bench_email,
    bench_kill,
    bench_latency,
    bench_peer,
    bench_telegram,
    stats,
)
from bench.inbox import N_IDLE, N_STREAMS, bench_inbox, inbox_rows  # noqa: E402
from bench.providers import (  # noqa: E402
    N_FAILOVER,
    N_TRACKING,
    bench_failover,
    bench_tracking,
    provider_env,
    provider_rows,
)
from bench.schedule import N_DIGESTS, N_SCHEDULED, bench_digests, bench_scheduled, schedule_rows  # noqa: E402
from tests.fakes.processes import Process  # noqa: E402
from tests.fakes.smtp import free_port  # noqa: E402
from tests.fakes.telegram import TOKEN  # noqa: E402

DB = "notifications_bench"
# Which parts to run (the letters above); all by default.
PARTS = set(os.environ.get("BENCH_PARTS", "abcdefg"))
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def environment(smtp_port: int, telegram_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        SECRET_KEY="bench-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}",
        REDIS_URL="redis://127.0.0.1:6379/13",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/12",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        GUNICORN_ACCESS_LOG="0",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{telegram_port}",
        API_THROTTLE_RATE="none",
        NOTIFICATION_CUSTOMER_HOURLY_CAP="1000000",
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    return env


def fresh_database() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    for db in (12, 13):
        redis.Redis(db=db).flushdb()


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of a process and of its children (a prefork worker's pool), in MB: the
    largest single process (what the 300 MB target is about) and all of them together."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    sizes = []
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            sizes.append(int(match.group(1)) / 1024 if match else 0.0)
    return {"largest_process": round(max(sizes, default=0.0), 1), "all_processes": round(sum(sizes), 1)}


N_BROADCAST = int(os.environ.get("BENCH_BROADCAST", "20000"))
BROADCAST_OBSERVE_SECONDS = 30


def _drop_the_rest(smtp_stats: int) -> None:
    """Cancel what the broadcast has not sent yet (minutes of it) and wait until the sink is quiet, so
    the parts after it count only their own messages on the same sink and worker."""
    from apps.notifications.models import Delivery

    Delivery.objects.filter(status__in=["queued", "retrying"]).update(status="cancelled")
    quiet, seen = time.monotonic(), stats(smtp_stats)["messages"]
    while time.monotonic() - quiet < 2:
        time.sleep(0.2)
        now = stats(smtp_stats)["messages"]
        if now != seen:
            quiet, seen = time.monotonic(), now


def bench_broadcast(env: dict[str, str], smtp_stats: int, worker_pid: int) -> dict[str, Any]:
    """The broadcast command for N customers: time to write and enqueue, peak memory, and the delivery
    rate over the first seconds (delivering all of them would take minutes at that rate)."""
    import resource

    from apps.customers.models import Customer

    Customer.objects.bulk_create(
        (
            Customer(name=f"Reader {i}", email=f"r{i}@bench.example", channels=["email"])
            for i in range(N_BROADCAST)
        ),
        batch_size=2000,
    )
    before = stats(smtp_stats)["messages"]
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "manage.py", "broadcast", "--subject", "News", "--message", "Hello {{ customer.name }}",
         "--channel", "email"],
        cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    enqueue_seconds = time.monotonic() - started
    command_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    time.sleep(BROADCAST_OBSERVE_SECONDS)
    delivered = stats(smtp_stats)["messages"] - before
    rate = delivered / (time.monotonic() - started)
    customers = Customer.objects.count()
    _drop_the_rest(smtp_stats)
    return {
        "customers": customers,
        "enqueue_seconds": round(enqueue_seconds, 1),
        "delivered_in_first_seconds": delivered,
        "delivery_per_s": round(rate, 1),
        "estimated_delivery_seconds": round(customers / rate, 0) if rate else None,
        "peak_rss_mb": {"command": round(command_rss, 1), "worker": rss_mb(worker_pid)},
    }


def bench_providers(
    env: dict[str, str], worker: Process, start_worker: Any, results: dict[str, Any]
) -> Process:
    """Part f: a worker of its own whose email providers are a sink and a fake ESP in this process."""
    from tests.fakes.esp import FakePostmark
    from tests.fakes.smtp import FakeSMTP

    worker.stop()
    sink, esp = FakeSMTP().start(), FakePostmark()
    os.environ.update(provider_env(sink.port, esp.url))
    from django.conf import settings

    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": os.environ["ANYMAIL_WEBHOOK_SECRET"]}
    providers = Process(
        [str(ROOT / "bin" / "start"), "worker"],
        env={**env, **provider_env(sink.port, esp.url), "WORKER_CONCURRENCY": "2"},
        log_path=LOGS / "worker-providers.log",
    ).start()
    try:
        time.sleep(3)
        log(f"f. tracking: {N_TRACKING} delivery events posted, applied by the worker")
        results["tracking"] = bench_tracking()
        log(f"f. failover: the SMTP sink stopped under {N_FAILOVER} emails, Postmark as backup")
        results["failover"] = bench_failover(sink, esp)
    finally:
        providers.stop()
        esp.stop()
    return start_worker()


def bench_stream(env: dict[str, str]) -> dict[str, Any]:
    """Part g: one stream process (uvicorn, `bin/start stream`) beside the bench's worker."""
    import httpx

    port = free_port()
    stream = Process(
        [str(ROOT / "bin" / "start"), "stream"],
        env={**env, "STREAM_PORT": str(port)},
        log_path=LOGS / "stream.log",
    ).start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        return bench_inbox(port, stream.process.pid)  # type: ignore[union-attr]
    finally:
        stream.stop()


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    smtp_port, smtp_stats, telegram_port, telegram_stats = (free_port() for _ in range(4))
    env = environment(smtp_port, telegram_port)
    log("fresh database and Redis databases 12 and 13")
    fresh_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env)
    import django

    django.setup()
    servers = [
        Process([sys.executable, "-m", "bench.servers", "smtp", str(smtp_port), str(smtp_stats)], env=env,
                log_path=LOGS / "smtp.log").start(),
        Process([sys.executable, "-m", "bench.servers", "telegram", str(telegram_port), str(telegram_stats)],
                env=env, log_path=LOGS / "telegram.log").start(),
    ]  # fmt: skip
    time.sleep(1.5)

    def start_worker() -> Process:
        return Process(
            [str(ROOT / "bin" / "start"), "worker"],
            env={**env, "WORKER_CONCURRENCY": "2"},
            log_path=LOGS / "worker.log",
        ).start()

    worker = start_worker()
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}}
    try:
        time.sleep(3)
        if "a" in PARTS:
            log(
                f"a. email backlog of {N_EMAIL} order emails, alone and beside {N_MIXED_TELEGRAM} Telegram ones"
            )
            results["email"] = bench_email(smtp_stats, smtp_port, telegram_stats)
            log(f"a. order -> email latency at {LATENCY_RATE} orders/s for {LATENCY_SECONDS} s")
            results["latency"] = bench_latency(smtp_stats)
            results["peak_rss_mb"] = {"worker": rss_mb(worker.process.pid)}  # type: ignore[union-attr]
            log("a. the worker killed with SIGKILL a third into 300 order emails, restarted 5 s later")
            killed = bench_kill(smtp_stats, worker, start_worker)
            worker = killed.pop("worker")
            results["kill"] = killed
            log(f"a. {N_EMAIL} queued emails: our drain, then django-post-office's send_queued_mail")
            raw = results["email"]["raw_smtp_per_s"]
            results["drain"] = bench_drain(smtp_stats)
            results["drain"]["ratio"] = round(results["drain"]["per_s"] / raw, 2)
            results["peer"] = bench_peer(env, smtp_stats)
            results["peer"]["ratio"] = round(results["peer"]["per_s"] / raw, 2)
        if "b" in PARTS:
            log(f"b. telegram backlog, {N_TELEGRAM} chats")
            results["telegram"] = bench_telegram(telegram_stats)
        if "d" in PARTS:
            log(
                f"d. broadcast to every customer ({N_BROADCAST} more), observed for {BROADCAST_OBSERVE_SECONDS} s"
            )
            results["broadcast"] = bench_broadcast(env, smtp_stats, worker.process.pid)  # type: ignore[union-attr]
        if "e" in PARTS:
            beat = Process(
                [str(ROOT / "bin" / "start"), "beat"],
                env={**env, "CELERY_BEAT_SCHEDULE_FILE": str(LOGS / "celerybeat-schedule")},
                log_path=LOGS / "beat.log",
            ).start()
            try:
                if "drain" not in results:  # the engine's drain rate in this run, for the ratio
                    log(f"e. baseline: {N_EMAIL} queued emails drained")
                    results["drain"] = bench_drain(smtp_stats)
                log(f"e. {N_SCHEDULED} emails scheduled for the same second")
                results["scheduled"] = bench_scheduled(smtp_stats)
                log(f"e. {N_DIGESTS} digest windows closing within seconds of each other")
                results["digests"] = bench_digests(smtp_stats)
            finally:
                beat.stop()
        if "f" in PARTS:
            worker = bench_providers(env, worker, start_worker, results)
        if "g" in PARTS:
            log(
                f"g. inbox: order -> stream latency with {N_STREAMS} streams open, then {N_IDLE} idle streams"
            )
            results["inbox"] = bench_stream(env)
    finally:
        worker.stop()
    if "c" in PARTS:
        log("c. API through nginx + gunicorn (2 workers), wrk -t2 -c16")
        results["api"] = bench_api(env)
    for server in servers:
        server.stop()
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(r: dict[str, Any]) -> None:
    rows: list[tuple[str, str, str, Any]] = []
    if "email" in r:
        e, lat, m = r["email"], r["latency"], r["email"]["mixed"]
        rows += [
            (f"email backlog {e['backlog']}", f"{e['deliveries_per_s']}/s, {e['database_connections']} connections "
             "opened", f"raw smtplib {e['raw_smtp_per_s']}/s", e["ratio"]),
            ("", "", f"raw, building each {e['raw_built_per_s']}/s", e["ratio_to_built"]),
            ("  beside telegram backlog", f"email {m['email_per_s']}/s, telegram {m['telegram_per_s']}/s "
             f"({m['telegram_429']} x 429)", f"raw smtplib {m['raw_smtp_per_s']}/s", m["email_ratio"]),
            ("", f"telegram: first after {m['telegram_first_after_s']} s, slot reused after "
             f"{m['telegram_slot_reuse_s']} s",
             f"raw, building each {m['raw_built_per_s']}/s", m["email_ratio_to_built"]),
            (f"order->email at {lat['rate_per_s']}/s", f"p50 {lat['p50_ms']} ms p99 {lat['p99_ms']} ms "
             f"({lat['delivered']}/{lat['orders']})", "", ""),
        ]  # fmt: skip
    if k := r.get("kill"):
        rows.append(("kill -9 at 1/3, restart +5 s", f"{k['delivered_at_kill']}/{k['orders']} out at the kill; all "
                     f"{k['sent']} sent {k['restart_to_all_s']} s after the restart", "target 20 s", ""))  # fmt: skip
    if (d := r.get("drain")) and (p := r.get("peer")):
        rows.append((f"queued emails {d['emails']}: our drain", f"{d['per_s']}/s (vs the peer: "
                     f"{round(d['per_s'] / p['per_s'], 2)} x)", f"raw smtplib {r['email']['raw_smtp_per_s']}/s",
                     d["ratio"]))  # fmt: skip
        rows.append((f"peer: post_office {p['emails']}", f"{p['per_s']}/s (send_queued_mail, defaults)",
                     f"raw smtplib {r['email']['raw_smtp_per_s']}/s", p["ratio"]))  # fmt: skip
    _print_rest(r, rows)


def _print_rest(r: dict[str, Any], rows: list[tuple[str, str, str, Any]]) -> None:
    if t := r.get("telegram"):
        rows.append(("telegram 600 chats", f"{t['drain_seconds']} s ({t['per_s']}/s, {t['http_429']} x 429)",
                     f"ideal {t['ideal_seconds']} s", t["ratio_to_ideal"]))  # fmt: skip
        rows.append(("", f"slot reused after {t['slot_reuse_s']} s (window 1.05 s)", "", ""))
    if a := r.get("api"):
        rows += api_rows(a)
    if d := r.get("broadcast"):
        rss = d["peak_rss_mb"]
        memory = (f"command {rss['command']}, worker {rss['worker']['largest_process']}"
                  f" (all {rss['worker']['all_processes']}) MB")  # fmt: skip
        rows.append((f"broadcast {d['customers']} customers", f"enqueued in {d['enqueue_seconds']} s; RSS {memory}",
                     f"delivering {d['delivery_per_s']}/s", f"~{d['estimated_delivery_seconds']} s"))  # fmt: skip
    rows += schedule_rows(r)
    rows += provider_rows(r)
    rows += inbox_rows(r)
    print()
    print(f"{'benchmark':32} {'measured':52} {'beside it':28} ratio")
    for name, measured, beside, ratio in rows:
        print(f"{name:32} {measured:52} {beside:28} {ratio}")
    print(f"\nresults: {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
