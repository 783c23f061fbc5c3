"""Part e of `make bench`: scheduled sends and digests (issue 22's targets), with the worker and the
scheduler (beat) running as in production.

- N_SCHEDULED emails scheduled for the same second (one broadcast with `send_at`): how late the first and the last went out, the
  rate from the first to the last, and how many arrived (each once: the sink counts recipients);
- N_DIGESTS customers with an `every:` digest, one held message each: how long after the windows
  closed all their digests were out.
"""

import os
import time
from datetime import timedelta
from typing import Any

from bench.delivery import stats, wait_for_messages

N_SCHEDULED = int(os.environ.get("BENCH_SCHEDULED", "10000"))
N_DIGESTS = int(os.environ.get("BENCH_DIGESTS", "1000"))
# Sends are written in transactions of this many, as a shop's backend would over the API.
CHUNK = 500
# The moment all of them are scheduled for lies this far after the first is written (written by then).
LEAD_SECONDS = 45.0
DIGEST_EVERY = 20


def _customers(prefix: str, count: int, **fields: Any) -> list[Any]:
    from apps.customers.models import Customer

    return list(
        Customer.objects.bulk_create(
            (
                Customer(
                    name=f"{prefix} {i}", email=f"{prefix}{i}@bench.example", channels=["email"], **fields
                )
                for i in range(count)
            ),
            batch_size=2000,
        )
    )


def bench_scheduled(smtp_stats: int, count: int = N_SCHEDULED) -> dict[str, Any]:
    from django.utils import timezone

    from apps.notifications.broadcast import broadcast_send
    from apps.notifications.planning import MessageSource

    customers = _customers("sched", count)
    source = MessageSource(subject="Doors open", message="Hello {{ customer.name }}, the sale starts now.")
    moment = timezone.now() + timedelta(seconds=LEAD_SECONDS)
    started = time.monotonic()
    # A campaign scheduled for noon: one broadcast with send_at, written in chunks.
    broadcast_send(source=source, channels=["email"], customer_ids=[c.pk for c in customers], send_at=moment)
    written_s = time.monotonic() - started
    before = stats(smtp_stats)
    early = before["messages"]
    due = moment.timestamp()
    while time.time() < due:
        time.sleep(0.05)
    first = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        current = stats(smtp_stats)
        if first is None and current["messages"] > early:
            first = time.time()
        if current["messages"] >= early + count:
            break
        time.sleep(0.05)
    result = wait_for_messages(smtp_stats, early + count, timeout=1)
    delivered = result["messages"] - early
    last = result["last_at"] or time.time()
    return {
        "scheduled": count,
        "written_s": round(written_s, 1),
        "written_before_the_time": written_s < LEAD_SECONDS,
        "before_time": early - before["messages"],
        "delivered": delivered,
        "unique_recipients": result.get("recipients", delivered) - before.get("recipients", 0),
        "first_after_s": round((first or last) - due, 2),
        "last_after_s": round(last - due, 2),
        "per_s": round(delivered / max(last - (first or due), 0.001), 1),
    }


def bench_digests(smtp_stats: int, count: int = N_DIGESTS) -> dict[str, Any]:
    """One held message for each of `count` customers whose marketing email is an `every:` digest;
    the windows close DIGEST_EVERY seconds after their first message, all within the few seconds the
    messages take to write."""
    from django.db import transaction
    from django.utils import timezone

    from apps.notifications.models import DigestWindow
    from apps.notifications.planning import MessageSource, notification_create

    customers = _customers("digest", count, digests={"marketing": {"email": f"every:{DIGEST_EVERY}"}})
    source = MessageSource(subject="New in", message="A new mug for {{ customer.name }}.")
    before = stats(smtp_stats)["messages"]
    for start in range(0, count, CHUNK):
        with transaction.atomic():
            for customer in customers[start : start + CHUNK]:
                notification_create(customer=customer, event="custom", source=source, channels=["email"])
    closes = list(DigestWindow.objects.values_list("closes_at", flat=True))
    first_close, last_close = min(closes).timestamp(), max(closes).timestamp()
    result = wait_for_messages(smtp_stats, before + count, timeout=DIGEST_EVERY + 120)
    delivered = result["messages"] - before
    last = result["last_at"] or time.time()
    return {
        "customers": count,
        "windows": len(closes),
        "closing_spread_s": round(last_close - first_close, 1),
        "digests_delivered": delivered,
        "all_out_after_last_close_s": round(last - last_close, 1),
        "all_out_after_first_close_s": round(last - first_close, 1),
        "closed_at_end": DigestWindow.objects.filter(status="closed").count(),
        "now": timezone.now().isoformat(),
    }


def schedule_rows(r: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    rows: list[tuple[str, str, str, Any]] = []
    if s := r.get("scheduled"):
        drain = r.get("drain", {}).get("per_s")
        rows.append((f"{s['scheduled']} scheduled, same second", f"first +{s['first_after_s']} s, last "
                     f"+{s['last_after_s']} s, {s['per_s']}/s", f"drain {drain}/s" if drain else "target first <= 2 s",
                     round(s["per_s"] / drain, 2) if drain else ""))  # fmt: skip
        rows.append(("", f"{s['delivered']} delivered to {s['unique_recipients']} recipients, "
                     f"{s['before_time']} before the time", "", ""))  # fmt: skip
    if d := r.get("digests"):
        rows.append((f"{d['customers']} digest windows", f"all out {d['all_out_after_last_close_s']} s after the "
                     f"last close ({d['closing_spread_s']} s spread)", "target 30 s", ""))  # fmt: skip
    return rows
