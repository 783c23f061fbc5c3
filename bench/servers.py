"""The fake providers as standalone processes for benchmarks: `python -m bench.servers smtp|telegram
PORT STATS_PORT`. Each reports what it received as JSON on http://127.0.0.1:STATS_PORT/."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.smtp import FakeSMTP
from tests.fakes.telegram import FakeTelegram


def serve_stats(port: int, stats: Any, detail: Any = None) -> None:
    """GET / answers the summary; GET /detail what `detail` returns (per-message facts), if given."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(detail() if detail and self.path.startswith("/detail") else stats()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    threading.Thread(
        target=ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever, daemon=True
    ).start()


def main() -> None:
    kind, port, stats_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if kind == "smtp":
        smtp = FakeSMTP()
        smtp._controller.port = smtp.port = port
        smtp.start()

        seen: dict[str, Any] = {"counted": 0, "recipients": set(), "lock": threading.Lock()}

        def smtp_stats() -> dict[str, Any]:
            with smtp.lock:
                times = list(smtp.received_at)
                new = smtp.messages[seen["counted"] : len(times)]
            # Recipients are parsed outside the sink's lock and once each: parsing every message's
            # header under it at each poll held the sink back (50 messages/s at 10,000).
            with seen["lock"]:
                seen["recipients"].update(str(m["To"]) for m in new)
                seen["counted"] += len(new)
                recipients = len(seen["recipients"])
            return {
                "messages": len(times),
                "recipients": recipients,
                "first_at": min(times, default=None),
                "last_at": max(times, default=None),
            }

        def smtp_detail() -> dict[str, Any]:
            with smtp.lock:
                return {
                    "received": [
                        [str(m["Subject"]), at] for m, at in zip(smtp.messages, smtp.received_at, strict=True)
                    ]
                }

        serve_stats(stats_port, smtp_stats, smtp_detail)
    else:
        telegram = FakeTelegram()
        telegram._server.server_close()
        from http.server import ThreadingHTTPServer as Server

        telegram._server = Server(("127.0.0.1", port), telegram._handler_class())
        telegram._server.daemon_threads = True
        threading.Thread(target=telegram._server.serve_forever, daemon=True).start()

        def telegram_detail() -> dict[str, Any]:
            with telegram._lock:
                return {"received": [m["at"] for m in telegram.messages]}

        serve_stats(stats_port, telegram.stats, telegram_detail)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
