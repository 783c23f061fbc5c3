"""Part g of `make bench`: the in-app inbox's live stream (issue 21's targets), one stream process
(uvicorn, as `bin/start stream` runs it) beside the bench's worker.

- latency: N_STREAMS streams open, one per customer; orders of N_CHANGES of them change status at
  CHANGE_RATE per second (the service call, as the API makes it); from each change to the
  `notification` event on that customer's stream, through the planner, the in_app drain, the table,
  Redis and the stream process: p50/p99;
- idle: N_IDLE streams open and silent; the stream process's resident memory before and after, per
  stream.

The clients are raw asyncio sockets in this process (HTTP/1.1, chunked), so thousands cost little.
"""

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

N_STREAMS = int(os.environ.get("BENCH_STREAMS", "1000"))
N_CHANGES = int(os.environ.get("BENCH_STREAM_CHANGES", "500"))
CHANGE_RATE = 50.0
N_IDLE = int(os.environ.get("BENCH_IDLE_STREAMS", "5000"))
OPEN_AT_ONCE = 200  # connections opened concurrently (the listen backlog is finite)


def inbox_customers(count: int) -> list[tuple[int, Any]]:
    """`count` in_app customers with one order each, their order_created messages drained already."""
    from decimal import Decimal

    from apps.customers.models import Customer
    from apps.orders.services import ItemInput, order_create

    customers = Customer.objects.bulk_create(
        Customer(name=f"Reader {i}", channels=["in_app"]) for i in range(count)
    )
    item = [ItemInput(sku="MUG", name="Mug", quantity=1, unit_price=Decimal("9.99"))]
    return [(c.pk, order_create(customer=c, items=item)) for c in customers]


def drained(customer_ids: list[int], timeout: float = 300) -> bool:
    from apps.inbox.models import InboxItem

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if InboxItem.objects.filter(customer_id__in=customer_ids).count() >= len(customer_ids):
            return True
        time.sleep(0.2)
    return False


class Stream:
    """One SSE connection: counts `notification` events and when each arrived."""

    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id
        self.opened = asyncio.Event()
        self.arrivals: list[float] = []
        self.writer: asyncio.StreamWriter | None = None

    async def run(self, port: int, token: str) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET /inbox/stream/?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        self.writer.write(request.encode())
        event = ""
        while line := await reader.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("event: "):
                event = text[7:]
            elif text.startswith("data: "):
                if event == "notification":
                    self.arrivals.append(time.time())
                elif event == "counts":
                    self.opened.set()
                event = ""

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _open_all(streams: list[Stream], port: int, tokens: dict[int, str]) -> list["asyncio.Task[None]"]:
    tasks = []
    for start in range(0, len(streams), OPEN_AT_ONCE):
        chunk = streams[start : start + OPEN_AT_ONCE]
        tasks += [asyncio.create_task(s.run(port, tokens[s.customer_id])) for s in chunk]
        await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in chunk)), 60)
    return tasks


async def _close_all(streams: list[Stream], tasks: list["asyncio.Task[None]"]) -> None:
    for stream in streams:
        stream.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _change_orders(orders: list[Any], changed: dict[int, float]) -> None:
    from django.db import close_old_connections

    from apps.orders.services import order_change_status

    started = time.monotonic()
    for n, (customer_id, order) in enumerate(orders):
        while time.monotonic() < started + n / CHANGE_RATE:
            time.sleep(0.001)
        changed[customer_id] = time.time()
        order_change_status(order=order, status="confirmed")
    close_old_connections()


async def _latency(port: int, customers: list[tuple[int, Any]], tokens: dict[int, str]) -> dict[str, Any]:
    streams = [Stream(customer_id) for customer_id, _ in customers]
    tasks = await _open_all(streams, port, tokens)
    changed: dict[int, float] = {}
    orders = customers[:N_CHANGES]
    mover = threading.Thread(target=_change_orders, args=(orders, changed))
    mover.start()
    by_customer = {s.customer_id: s for s in streams}
    deadline = time.monotonic() + N_CHANGES / CHANGE_RATE + 60
    while time.monotonic() < deadline:
        if all(by_customer[c].arrivals for c, _ in orders) and not mover.is_alive():
            break
        await asyncio.sleep(0.05)
    mover.join()
    latencies = sorted(by_customer[c].arrivals[0] - changed[c] for c, _ in orders if by_customer[c].arrivals)
    extra = sum(len(s.arrivals) for s in streams) - len(latencies)
    await _close_all(streams, tasks)
    return {
        "streams": len(streams),
        "changes": len(orders),
        "received": len(latencies),
        "unexpected_events": extra,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1) if latencies else None,
        "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
    }


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _idle(port: int, pid: int, customer_ids: list[int], tokens: dict[int, str]) -> dict[str, Any]:
    await asyncio.sleep(1)
    before = _rss_kb(pid)
    streams = [Stream(customer_ids[i % len(customer_ids)]) for i in range(N_IDLE)]
    started = time.monotonic()
    tasks = await _open_all(streams, port, tokens)
    opened_in = time.monotonic() - started
    await asyncio.sleep(2)
    after = _rss_kb(pid)
    await _close_all(streams, tasks)
    return {
        "streams": len(streams),
        "opened_in_s": round(opened_in, 1),
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "kb_per_stream": round((after - before) / len(streams), 1),
    }


def bench_inbox(port: int, pid: int) -> dict[str, Any]:
    from apps.inbox.tokens import token_issue

    customers = inbox_customers(N_STREAMS)
    ids = [c for c, _ in customers]
    if not drained(ids):
        raise RuntimeError("the order_created messages did not reach the inboxes")
    tokens = {c: token_issue(c).token for c in ids}
    latency = asyncio.run(_latency(port, customers, tokens))
    idle = asyncio.run(_idle(port, pid, ids, tokens))
    return {"latency": latency, "idle": idle}


def inbox_rows(r: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    rows: list[tuple[str, str, str, Any]] = []
    if i := r.get("inbox"):
        lat, idle = i["latency"], i["idle"]
        rows.append((f"order -> stream, {lat['streams']} open", f"p50 {lat['p50_ms']} ms p99 {lat['p99_ms']} ms "
                     f"({lat['received']}/{lat['changes']})", "target p50 100 ms, p99 1 s", ""))  # fmt: skip
        rows.append((f"{idle['streams']} idle streams", f"{idle['kb_per_stream']} kB each (RSS {idle['rss_before_mb']}"
                     f" -> {idle['rss_after_mb']} MB)", "goal 50 kB", ""))  # fmt: skip
    return rows
