"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 that speaks sendMessage like Telegram.

It answers with Telegram's envelopes and error strings, records every accepted message, enforces
the limits (30 messages per rolling second per bot, never two to one chat within a second) with 429
and `retry_after`, validates HTML entities and the 4096-character limit, and can be scripted to
fail: `fail(status, description, times=..., chat_id=..., parameters=...)` or `outage(...)`.
"""

import contextlib
import html
import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

import httpx

TOKEN = "123456:TEST-fake-bot-token"
BARRIER_TIMEOUT = 30.0  # a barrier never met breaks after this long, and the sends go on
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span", "tg-spoiler",
    "blockquote", "tg-emoji",
}  # fmt: skip
ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
TAG = re.compile(r"</?([a-zA-Z-]+)(\s[^<>]*)?>")


@dataclass
class Rule:
    status: int
    description: str
    times: float
    chat_id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    until: float | None = None  # time.monotonic() deadline of an outage rule


def entities_error(text: str) -> str | None:
    """Telegram's complaint about HTML `text`, or None when it parses."""
    position = 0
    while True:
        index = text.find("&", position)
        if index == -1:
            break
        if not ENTITY.match(text, index):
            return f"can't parse entities: unsupported start tag or entity at byte offset {index}"
        position = index + 1
    stack: list[str] = []
    for match in re.finditer(r"<", text):
        tag = TAG.match(text, match.start())
        if tag is None or tag.group(1).lower() not in ALLOWED_TAGS:
            return f"can't parse entities: unsupported start tag at byte offset {match.start()}"
        name = tag.group(1).lower()
        if tag.group(0).startswith("</"):
            if not stack or stack.pop() != name:
                return f"can't parse entities: unmatched end tag at byte offset {match.start()}"
        else:
            stack.append(name)
    if stack:
        return f"can't parse entities: can't find end tag corresponding to start tag {stack[-1]}"
    return None


class FakeTelegram:
    def __init__(self, *, per_bot: int = 30, per_chat_interval: float = 1.0) -> None:
        self.per_bot = per_bot
        self.per_chat_interval = per_chat_interval
        self._lock = threading.Lock()
        self.reset()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle and inspection ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeTelegram":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        held = getattr(self, "barrier", None)
        if held is not None:
            held.abort()  # release what a failed test left waiting
        with self._lock:
            self.messages: list[dict[str, Any]] = []
            self.calls = 0
            self.rate_limited = 0
            self.failed_calls = 0
            self.limited_by: list[str] = []
            # Every sendMessage answered: (chat_id, text, monotonic time, status, retry_after or 0).
            self.attempts: list[tuple[str, str, float, int, float]] = []
            self.rules: list[Rule] = []
            self._recent: deque[float] = deque()
            self._last_per_chat: dict[str, float] = {}
            self._next_id = 1
            self.webhook: dict[str, Any] = {}
            self._next_update_id = 1
            self.updates_pushed: list[int] = []  # the update_id of each update posted, in order
            # When set, each sendMessage is recorded and then answered only once `parties` of them are
            # in; it lets one generation through and clears itself. The first messages recorded are
            # then the first a client put in flight, whatever order the machine's load runs them in.
            self.barrier: threading.Barrier | None = None

    def texts(self, chat_id: object | None = None) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.messages if chat_id is None or m["chat_id"] == str(chat_id)]

    def retried_too_soon(self) -> list[tuple[str, float, float]]:
        """Each 429 whose message (its chat and text) was tried again before its `retry_after` had
        passed: (chat, the seconds it waited, the seconds it was told). Empty when every 429 was
        honoured, which is what a client owes Telegram; whether any 429 happens at all depends on the
        machine's load (a send counted a little late in a window), so speed claims live in bench/."""
        with self._lock:
            attempts = list(self.attempts)
        early = []
        for index, (chat, text, at, status, retry_after) in enumerate(attempts):
            if status != 429:
                continue
            later = next((a for a in attempts[index + 1 :] if a[0] == chat and a[1] == text), None)
            if later is not None and later[2] - at < retry_after:
                early.append((chat, later[2] - at, retry_after))
        return early

    # --- scripting ---
    def fail(
        self,
        status: int,
        description: str,
        *,
        times: float = 1,
        chat_id: object | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            self.rules.append(
                Rule(status, description, times, None if chat_id is None else str(chat_id), parameters or {})
            )

    def outage(self, status: int, description: str, *, seconds: float) -> None:
        """Answer every sendMessage with this error for the next `seconds`; counts the calls it fails."""
        with self._lock:
            self.rules.append(Rule(status, description, float("inf"), until=time.monotonic() + seconds))

    def clear_failures(self) -> None:
        with self._lock:
            self.rules = []

    # --- the protocol ---
    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": len(self.messages),
                "rate_limited": self.rate_limited,
                "first_at": self.messages[0]["at"] if self.messages else None,
                "last_at": self.messages[-1]["at"] if self.messages else None,
            }

    def handle(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if path == "/stats":  # for benchmarks running the fake in its own process
            return 200, self.stats(), {}
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", path)
        if match is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, {}
        token, method = match.groups()
        with self._lock:
            self.calls += 1
            if token != TOKEN:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, {}
            if method.lower() == "getme":
                return 200, {"ok": True, "result": {"id": 123456, "is_bot": True, "username": "fake_bot"}}, {}
            if method.lower() == "setwebhook":
                return self._set_webhook(params)
            if method.lower() == "getwebhookinfo":
                info = {"url": self.webhook.get("url", ""), "pending_update_count": 0}
                return 200, {"ok": True, "result": info}, {}
            if method.lower() != "sendmessage":
                return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, {}
            status, body, headers = self._send_message(params)
            retry_after = float(body.get("parameters", {}).get("retry_after", 0)) if status == 429 else 0.0
            chat, text = str(params.get("chat_id", "")), str(params.get("text", ""))
            self.attempts.append((chat, text, time.monotonic(), status, retry_after))
            return status, body, headers

    def _set_webhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        url, secret = str(params.get("url", "")), params.get("secret_token")
        if url and not url.startswith(
            ("https://", "http://127.0.0.1", "http://localhost")
        ):  # fake: loopback too
            return self._bad("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return self._bad("Bad Request: secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": params.get("allowed_updates")}
        description = "Webhook was set" if url else "Webhook was deleted"
        return 200, {"ok": True, "result": True, "description": description}, {}

    def push_update(
        self, *, chat_id: int, text: str, secret: str | None = None, update_id: int | None = None
    ) -> httpx.Response:
        """Post a message update to the registered webhook, as Telegram does, with its secret header
        (or `secret` instead); a method in the answer is executed, as Telegram executes it. An
        `update_id` given posts that update again (a redelivery, or a captured request replayed)."""
        with self._lock:
            if update_id is None:
                update_id, self._next_update_id = self._next_update_id, self._next_update_id + 1
            self.updates_pushed.append(update_id)
            webhook = dict(self.webhook)
        assert webhook.get("url"), "no webhook registered"
        update = {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Ada"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Ada"},
                "text": text,
            },
        }
        token = webhook.get("secret_token") if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        response = httpx.post(webhook["url"], json=update, headers=headers, timeout=10)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        answer = response.json() if is_json else {}
        if response.status_code == 200 and isinstance(answer, dict) and answer.get("method") == "sendMessage":
            with self._lock:
                # An answer to the user's own message: the one-per-second pace of a chat does not apply.
                self._last_per_chat.pop(str(chat_id), None)
                self._send_message({k: v for k, v in answer.items() if k != "method"})
        return response

    def _send_message(self, params: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        chat_id = str(params.get("chat_id", ""))
        for rule in self.rules:
            if rule.until is not None and time.monotonic() >= rule.until:
                continue
            if rule.times > 0 and rule.chat_id in (None, chat_id):
                rule.times -= 1
                self.failed_calls += 1
                body: dict[str, Any] = {
                    "ok": False,
                    "error_code": rule.status,
                    "description": rule.description,
                }
                if rule.parameters:
                    body["parameters"] = rule.parameters
                headers = (
                    {"Retry-After": str(rule.parameters["retry_after"])}
                    if "retry_after" in rule.parameters
                    else {}
                )
                if rule.status == 429:
                    self.rate_limited += 1
                return rule.status, body, headers
        text = str(params.get("text", ""))
        if not chat_id:
            return self._bad("Bad Request: chat_id is empty")
        if params.get("parse_mode", "").upper() == "HTML":
            problem = entities_error(text)
            if problem:
                return self._bad(f"Bad Request: {problem}")
            visible = html.unescape(TAG.sub("", text))
        else:
            visible = text
        if not visible.strip():
            return self._bad("Bad Request: message text is empty")
        if len(visible) > 4096:
            return self._bad("Bad Request: message is too long")
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        wait = 0.0
        if len(self._recent) >= self.per_bot:
            wait = 1.0 - (now - self._recent[0])
        last = self._last_per_chat.get(chat_id)
        if last is not None and now - last < self.per_chat_interval:
            wait = max(wait, self.per_chat_interval - (now - last))
        if wait > 0:
            self.rate_limited += 1
            self.limited_by.append("bot" if len(self._recent) >= self.per_bot else "chat")
            retry_after = max(1, math.ceil(wait))
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
            return 429, body, {"Retry-After": str(retry_after)}
        self._recent.append(now)
        self._last_per_chat[chat_id] = now
        message_id = self._next_id
        self._next_id += 1
        self.messages.append(
            {
                "chat_id": chat_id,
                "text": text,
                "parse_mode": params.get("parse_mode"),
                "silent": bool(params.get("disable_notification")),
                "message_id": message_id,
                "at": time.time(),
            }
        )
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(chat_id) if chat_id.lstrip("-").isdigit() else 0, "type": "private"},
            "from": {"id": 123456, "is_bot": True, "first_name": "Fake", "username": "fake_bot"},
            "text": visible,
        }
        return 200, {"ok": True, "result": result}, {}

    @staticmethod
    def _bad(description: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 400, {"ok": False, "error_code": 400, "description": description}, {}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like the real API

            def _respond(self, params: dict[str, Any]) -> None:
                path = urlparse(self.path).path
                status, body, headers = fake.handle(path, params)
                barrier = fake.barrier
                if barrier is not None and path.lower().endswith("/sendmessage"):
                    with contextlib.suppress(threading.BrokenBarrierError):
                        barrier.wait(timeout=BARRIER_TIMEOUT)
                    fake.barrier = None  # before any answer: no later request waits at it
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._respond(dict(parse_qsl(urlparse(self.path).query)))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.headers.get("Content-Type", "")
                params = json.loads(raw or b"{}") if "json" in kind else dict(parse_qsl(raw.decode()))
                params.update(dict(parse_qsl(urlparse(self.path).query)))
                self._respond(params)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line carries the token; keep it out of test output

        return Handler
