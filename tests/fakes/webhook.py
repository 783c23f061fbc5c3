"""An HTTP endpoint on loopback that records JSON posts (what Apprise's json:// sends) and can be
told to answer with an error status."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeWebhook:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def apprise_url(self, path: str = "alerts") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake._lock:
                    status = fake.status
                    if status == 200:
                        fake.received.append({"path": self.path, **json.loads(raw or b"{}")})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class SignedReceiver:
    """A webhook receiver on a fixed loopback port that checks every request with the
    `standardwebhooks` package, answers the statuses it is told (then 200), and can go down and come
    back on the same port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        from tests.fakes.processes import free_port

        self.host = host  # another loopback address is another host (its own circuit)
        self.port = free_port()
        self.secrets: list[str] = []
        self.answers: list[int] = []
        self.delay = 0.0  # seconds before each answer: a slow receiver
        # When set, each request waits at it before answering (a request finding it broken answers
        # 503): requests that must all be in flight at once pass it, whatever the machine's load.
        self.barrier: threading.Barrier | None = None
        self.location = ""  # sent as Location with every answer (a 3xx pointing elsewhere)
        self.received: list[dict[str, Any]] = []  # every request: id, type, status answered, verified
        self.in_flight = self.most_in_flight = 0  # requests being answered at once, and the most seen
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def start(self) -> "SignedReceiver":
        self._server = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Requests answered 2xx whose signature verified (each id once: receivers deduplicate)."""
        seen: dict[str, dict[str, Any]] = {}
        for item in list(self.received):
            if item["verified"] and 200 <= item["status"] < 300 and (type_ is None or item["type"] == type_):
                seen.setdefault(item["id"], item)
        return list(seen.values())

    def _verify(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        from standardwebhooks import Webhook

        for secret in self.secrets:
            try:
                return dict(Webhook(secret).verify(raw, headers))
            except Exception:  # noqa: S112 - try the next secret
                continue
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = receiver._verify(raw, headers)
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                time.sleep(receiver.delay)
                met = True
                if receiver.barrier is not None:
                    try:
                        receiver.barrier.wait()
                    except threading.BrokenBarrierError:
                        met = False
                with receiver._lock:
                    receiver.in_flight -= 1
                    status = receiver.answers.pop(0) if receiver.answers else 200 if met else 503
                    receiver.received.append(
                        {
                            "id": headers.get("webhook-id"),
                            "type": (body or {}).get("type"),
                            "body": body,
                            "signature": headers.get("webhook-signature", ""),
                            "status": status,
                            "verified": body is not None,
                            "host": headers.get("host", ""),
                        }
                    )
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class DrippingReceiver:
    """A receiver that never finishes answering: it sends its status line and headers a byte at a
    time, a byte every `every` seconds, so no single read ever times out."""

    def __init__(self, every: float = 0.2) -> None:
        import socket

        self.every = every
        self.connections = 0
        self._stop = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/hooks"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: Any) -> None:
        with conn:
            conn.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
            for byte in answer:
                if self._stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._socket.close()
