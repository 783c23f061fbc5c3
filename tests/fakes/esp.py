"""A fake email service provider on loopback speaking Postmark's HTTP API (what anymail's Postmark
backend talks to through ANYMAIL_POSTMARK_API_URL): it checks the server token, records what it
accepts, refuses inactive recipients as Postmark does (422, ErrorCode 406), and can be told to answer
an error status or to answer late. Also the JSON shapes Postmark posts to a tracking webhook."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "fake-postmark-token"


class FakePostmark:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        with self.lock:
            self.messages: list[dict[str, Any]] = []  # accepted: the request's JSON and its MessageID
            self.calls = 0
            self.inactive: set[str] = set()
            self.status: int | None = None  # answer this status (e.g. 500, 429) instead of taking mail
            self.delay = 0.0  # answer this late (after reading the request)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def recipients(self) -> list[str]:
        with self.lock:
            return [m["To"] for m in self.messages]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls += 1
            if token != TOKEN:
                return 401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."}
            if self.status is not None:
                return self.status, {"ErrorCode": 100, "Message": "Maintenance"}
            to = str(body.get("To", ""))
            if to.lower() in self.inactive:
                return 422, {
                    "ErrorCode": 406,
                    "Message": "You tried to send to a recipient that has been marked as inactive.\n"
                    f"Found inactive addresses: {to.lower()}.\n"
                    "Inactive recipients are ones that have generated a hard bounce or a spam complaint. ",
                }
            message_id = str(uuid.uuid4())
            self.messages.append(body | {"MessageID": message_id, "received_at": time.time()})
        return 200, {
            "To": to,
            "SubmittedAt": "2026-12-05T10:00:00.0000000-05:00",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if fake.delay:
                    time.sleep(fake.delay)
                status, answer = fake._answer(
                    self.headers.get("X-Postmark-Server-Token", ""), json.loads(raw)
                )
                body = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# --- what Postmark posts to a tracking webhook ---


def delivery_event(message_id: str, recipient: str = "ada@example.com") -> dict[str, Any]:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": recipient,
        "Tag": "",
        "DeliveredAt": "2026-12-05T10:00:02Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


def bounce_event(
    message_id: str, recipient: str = "ada@example.com", kind: str = "HardBounce", event_id: int = 4323372036
) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "ID": event_id,
        "Type": kind,
        "TypeCode": 1 if kind == "HardBounce" else 4096,
        "Name": "Hard bounce" if kind == "HardBounce" else "Soft bounce",
        "Tag": "",
        "MessageID": message_id,
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": recipient,
        "From": "noreply@shop.example",
        "BouncedAt": "2026-12-05T10:00:03Z",
        "DumpAvailable": False,
        "Inactive": kind == "HardBounce",
        "CanActivate": True,
        "Subject": "Your order",
        "Metadata": {},
    }


def complaint_event(
    message_id: str, recipient: str = "ada@example.com", event_id: int = 42
) -> dict[str, Any]:
    return bounce_event(message_id, recipient, event_id=event_id) | {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "",
    }
