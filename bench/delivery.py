"""Part a (email backlog alone and beside Telegram, order -> email latency) and part b (Telegram
backlog) of `make bench`: each figure beside its baseline, measured in the same run."""

import os
import smtplib
import time
from email.message import EmailMessage
from typing import Any

import httpx

N_EMAIL = int(os.environ.get("BENCH_EMAILS", "2000"))
N_TELEGRAM = 600


def stats(port: int) -> dict[str, Any]:
    return dict(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).json())


def wait_for_messages(port: int, count: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    current = stats(port)
    while current["messages"] < count and time.monotonic() < deadline:
        time.sleep(0.1)
        current = stats(port)
    return current


def telegram_arrivals(port: int, first: int) -> list[float]:
    """When each Telegram message from the `first` on reached the fake."""
    return list(httpx.get(f"http://127.0.0.1:{port}/detail", timeout=10).json()["received"][first:])


def slot_reuse(times: list[float]) -> float:
    """Mean seconds between a Telegram message and the one 30 after it: how soon a slot of the bot's
    30 per window is used again; the limiter's window is 1.05 s."""
    gaps = [later - earlier for earlier, later in zip(times, times[30:], strict=False)]
    return round(sum(gaps) / len(gaps), 3) if gaps else float("nan")


def raw_smtp(smtp_stats: int, smtp_port: int, count: int) -> float:
    """Messages per second through one reused smtplib connection into the same sink, the same small
    message built once and sent `count` times: the sink's own pace, the strictest baseline."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@bench.example", "raw@bench.example", "Raw"
    message.set_content("Hello " * 40)
    before = stats(smtp_stats)["messages"]
    started = time.time()
    with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
        for _ in range(count):
            smtp.send_message(message)
    return (stats(smtp_stats)["messages"] - before) / (time.time() - started)


def raw_smtp_built(smtp_stats: int, smtp_port: int, count: int) -> float:
    """The same loop building each message (what any sender of distinct emails does, and the
    baseline of docs/performance.md): the text and HTML of a delivered order
    email, to a different recipient each time, as a multipart/alternative MIME message built with
    the stdlib's compat32 classes (Django's, and the faster of the stdlib's two APIs)."""
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    from apps.notifications.models import Delivery

    sample = Delivery.objects.filter(channel="email", status="sent").exclude(body_html="").first()
    assert sample is not None, "the email backlog delivered nothing to copy"
    before = stats(smtp_stats)["messages"]
    started = time.time()
    with smtplib.SMTP("127.0.0.1", smtp_port) as smtp:
        for n in range(count):
            message = MIMEMultipart("alternative")
            to = f"raw{n}@bench.example"
            message["From"], message["To"], message["Subject"] = "shop@bench.example", to, sample.subject
            message.attach(MIMEText(sample.body_plain, "plain", "utf-8"))
            message.attach(MIMEText(sample.body_html, "html", "utf-8"))
            smtp.sendmail("shop@bench.example", [to], message.as_bytes())
    return (stats(smtp_stats)["messages"] - before) / (time.time() - started)


def order_backlog(customers: list[Any]) -> None:
    """One order per customer, all in one transaction: the backlog exists before the first send."""
    from decimal import Decimal

    from django.db import transaction

    from apps.orders.services import ItemInput, order_create

    items = [ItemInput(sku="MUG", name="Mug", quantity=1, unit_price=Decimal("9.99"))]
    with transaction.atomic():
        for customer in customers:
            order_create(customer=customer, items=items)


def drain_rate(smtp_stats: int, before: int, count: int, started: float) -> tuple[int, float]:
    result = wait_for_messages(smtp_stats, before + count, timeout=240)
    delivered = result["messages"] - before
    return delivered, delivered / ((result["last_at"] or time.time()) - started)


def bench_email(smtp_stats: int, smtp_port: int, telegram_stats: int) -> dict[str, Any]:
    from apps.customers.models import Customer

    def customers(prefix: str, n: int, **fields: Any) -> list[Any]:
        return Customer.objects.bulk_create(
            Customer(name=f"{prefix} {i}", email=f"{prefix}{i}@bench.example", **fields) for i in range(n)
        )

    # 1. an email backlog alone
    batch = customers("alone", N_EMAIL, channels=["email"])
    before = stats(smtp_stats)["messages"]
    order_backlog(batch)
    sessions_before = database_sessions()
    started = time.time()
    delivered, alone = drain_rate(smtp_stats, before, N_EMAIL, started)
    sessions = database_sessions() - sessions_before
    raw = raw_smtp(smtp_stats, smtp_port, N_EMAIL)
    built = raw_smtp_built(smtp_stats, smtp_port, N_EMAIL)

    # 2. the same beside a Telegram backlog of 300 chats, one worker serving both
    mails = customers("mixed", N_EMAIL, channels=["email"])
    chats = Customer.objects.bulk_create(
        Customer(name=f"Chat {i}", telegram_chat_id=str(20_000_000 + i), channels=["telegram"])
        for i in range(N_MIXED_TELEGRAM)
    )
    before, telegram_before = stats(smtp_stats)["messages"], stats(telegram_stats)
    order_backlog(mails + chats)
    started = time.time()
    mixed_delivered, mixed = drain_rate(smtp_stats, before, N_EMAIL, started)
    telegram = wait_for_messages(telegram_stats, telegram_before["messages"] + N_MIXED_TELEGRAM, timeout=60)
    telegram_sent = telegram["messages"] - telegram_before["messages"]
    telegram_rate = telegram_sent / ((telegram["last_at"] or time.time()) - started)
    arrivals = telegram_arrivals(telegram_stats, telegram_before["messages"])
    raw_again = raw_smtp(smtp_stats, smtp_port, N_EMAIL)
    built_again = raw_smtp_built(smtp_stats, smtp_port, N_EMAIL)
    raw_mean, built_mean = (raw + raw_again) / 2, (built + built_again) / 2

    return {
        "backlog": N_EMAIL,
        "delivered": delivered,
        "deliveries_per_s": round(alone, 1),
        "raw_smtp_per_s": round(raw, 1),
        "ratio": round(alone / raw, 2),
        "raw_built_per_s": round(built, 1),
        "ratio_to_built": round(alone / built, 2),
        # PostgreSQL connections opened while the backlog drained (the worker's, mostly).
        "database_connections": sessions,
        "mixed": {
            "email_delivered": mixed_delivered,
            "email_per_s": round(mixed, 1),
            "raw_smtp_per_s": round(raw_again, 1),
            "email_ratio": round(mixed / raw_mean, 2),
            "raw_built_per_s": round(built_again, 1),
            "email_ratio_to_built": round(mixed / built_mean, 2),
            "telegram_messages": telegram_sent,
            "telegram_per_s": round(telegram_rate, 1),
            "telegram_429": telegram["rate_limited"] - telegram_before["rate_limited"],
            "telegram_slot_reuse_s": slot_reuse(arrivals),
            "telegram_first_after_s": round(arrivals[0] - started, 3) if arrivals else float("nan"),
        },
    }


def database_sessions() -> int:
    """Connections made to this database so far (PostgreSQL 14+ counts them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


N_MIXED_TELEGRAM = 300
LATENCY_RATE = 50
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "10"))


def bench_latency(smtp_stats: int) -> dict[str, Any]:
    """Orders at a steady LATENCY_RATE per second for LATENCY_SECONDS; for each, the time from its
    commit to its email's arrival at the sink."""
    from decimal import Decimal

    from apps.customers.models import Customer
    from apps.orders.services import ItemInput, order_create

    count = LATENCY_RATE * LATENCY_SECONDS
    customers = Customer.objects.bulk_create(
        Customer(name=f"Steady {i}", email=f"steady{i}@bench.example", channels=["email"])
        for i in range(count)
    )
    items = [ItemInput(sku="MUG", name="Mug", quantity=1, unit_price=Decimal("9.99"))]
    committed: dict[str, float] = {}
    started = time.monotonic()
    for n, customer in enumerate(customers):
        pause = started + n / LATENCY_RATE - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        order = order_create(customer=customer, items=items)
        committed[order.number] = time.time()
    wait_for_messages(smtp_stats, stats(smtp_stats)["messages"], timeout=1)
    deadline = time.monotonic() + 60
    arrived: dict[str, float] = {}
    while time.monotonic() < deadline:
        received = httpx.get(f"http://127.0.0.1:{smtp_stats}/detail", timeout=10).json()["received"]
        arrived = {
            subject.rsplit(" ", 1)[-1]: at
            for subject, at in received
            if subject.rsplit(" ", 1)[-1] in committed
        }
        if len(arrived) == count:
            break
        time.sleep(0.5)
    latencies = sorted((arrived[number] - committed[number]) * 1000 for number in arrived)

    def pct(p: float) -> float:
        return (
            round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)
            if latencies
            else float("nan")
        )

    return {"orders": count, "delivered": len(latencies), "rate_per_s": LATENCY_RATE,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99), "max_ms": round(max(latencies, default=0), 1)}  # fmt: skip


def bench_telegram(telegram_port: int) -> dict[str, Any]:
    from django.db import transaction

    from apps.customers.models import Customer
    from apps.notifications.planning import MessageSource, notification_create

    customers = Customer.objects.bulk_create(
        Customer(name=f"Chat {i}", telegram_chat_id=str(10_000_000 + i), channels=["telegram"])
        for i in range(N_TELEGRAM)
    )
    source = MessageSource(message="Hello {{ customer.name }}, your order is on its way")
    before = stats(telegram_port)
    with transaction.atomic():
        for customer in customers:
            notification_create(customer=customer, event="custom", source=source, channels=["telegram"])
    started = time.time()
    result = wait_for_messages(telegram_port, before["messages"] + N_TELEGRAM, timeout=120)
    drain = (result["last_at"] or time.time()) - started
    sent = result["messages"] - before["messages"]
    return {
        "messages": sent,
        "drain_seconds": round(drain, 1),
        "per_s": round(sent / drain, 1),
        "ideal_seconds": N_TELEGRAM / 30,
        "ratio_to_ideal": round((N_TELEGRAM / 30) / drain, 2),
        "http_429": result["rate_limited"] - before["rate_limited"],
        "slot_reuse_s": slot_reuse(telegram_arrivals(telegram_port, before["messages"])),
    }


def bench_drain(smtp_stats: int, count: int = N_EMAIL) -> dict[str, Any]:
    """The delivery drain alone, as the peer below is measured: `count` emails already queued as
    deliveries (API sends, planned in their requests), drained by the worker into the same sink."""
    from django.db import transaction

    from apps.customers.models import Customer
    from apps.notifications.planning import MessageSource, notification_create

    customers = Customer.objects.bulk_create(
        Customer(name=f"Queued {i}", email=f"queued{i}@bench.example", channels=["email"])
        for i in range(count)
    )
    # The order email's template: text and HTML, as the peer's messages have.
    source = MessageSource(template_key="order_created")
    order = {"number": "ORD-000123", "total": "24.98", "currency": "EUR", "status": "pending", "items": []}
    before = stats(smtp_stats)["messages"]
    with transaction.atomic():  # one commit: the backlog exists before the first send
        for customer in customers:
            notification_create(
                customer=customer, event="custom", source=source, channels=["email"], context={"order": order}
            )
    delivered, rate = drain_rate(smtp_stats, before, count, time.time())
    return {"emails": count, "delivered": delivered, "per_s": round(rate, 1)}


def sample_email() -> dict[str, str]:
    """Subject, text and HTML of an order email the drain sent: what the peer sends too."""
    from apps.notifications.models import Delivery

    delivery = Delivery.objects.filter(channel="email", status="sent").exclude(body_html="").latest("id")
    return {"subject": delivery.subject, "message": delivery.body_plain, "html_message": delivery.body_html}


def bench_peer(env: dict[str, str], smtp_stats: int, count: int = N_EMAIL) -> dict[str, Any]:
    """django-post-office's `send_queued_mail` (defaults: batches of 100, 5 threads) draining `count`
    queued text+HTML emails into the same sink: the peer a shop comparing email queues would try."""
    import subprocess
    import sys
    from pathlib import Path

    from post_office import mail

    root = Path(__file__).resolve().parent.parent
    sample = sample_email()
    mail.send_many(
        [
            {"recipients": [f"peer{n}@bench.example"], "sender": "Shop <noreply@shop.example>",
             "priority": "medium", **sample}
            for n in range(count)
        ]
    )  # fmt: skip
    before = stats(smtp_stats)["messages"]
    started = time.time()
    subprocess.run(
        [sys.executable, "manage.py", "send_queued_mail"], cwd=root, env=env, check=True, timeout=300,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    delivered, rate = drain_rate(smtp_stats, before, count, started)
    return {"emails": count, "delivered": delivered, "per_s": round(rate, 1)}


def bench_kill(smtp_stats: int, worker: Any, restart: Any, count: int = 300) -> dict[str, Any]:
    """The worker killed with SIGKILL about a third into a backlog of `count` order emails and started
    again 5 s later: seconds from the restart until every one is sent (claims come back with their
    lease, NOTIFICATION_CLAIM_LEASE)."""
    import signal

    from apps.customers.models import Customer
    from apps.notifications.models import Delivery

    customers = Customer.objects.bulk_create(
        Customer(name=f"Kill {i}", email=f"kill{i}@bench.example", channels=["email"]) for i in range(count)
    )
    before = stats(smtp_stats)["messages"]
    order_backlog(customers)
    wait_for_messages(smtp_stats, before + count // 3, timeout=60)
    worker.stop(signal.SIGKILL)
    at_kill = stats(smtp_stats)["messages"] - before
    time.sleep(5)
    restarted = time.monotonic()
    worker = restart()
    emails = Delivery.objects.filter(channel="email", address__startswith="kill")
    deadline = restarted + 180
    while emails.filter(status="sent").count() < count and time.monotonic() < deadline:
        time.sleep(0.2)
    done = emails.filter(status="sent").count()
    return {
        "orders": count,
        "delivered_at_kill": at_kill,
        "sent": done,
        "restart_to_all_s": round(time.monotonic() - restarted, 1) if done == count else None,
        "worker": worker,
    }
