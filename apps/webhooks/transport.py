"""Posting signed webhook messages over HTTP: no database here, only the network.

A batch's posts go out at once, a thread each, so a slow receiver holds up one thread, not the batch.
The URL is checked again right before the request (DNS may have changed since the endpoint was saved)
and the request goes to the address that was checked; redirects are not followed, proxies from the
environment are not used, response bodies are read up to MAX_RESPONSE_BYTES, and status and body must
arrive within one overall deadline (WEBHOOK_TIMEOUT).
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from apps.webhooks.safety import Target, UnsafeUrl, url_check

MAX_RESPONSE_BYTES = 4096
USER_AGENT = "notification-service-webhooks/1"


@dataclass
class Post:
    """One try of one message: what goes out, and what came back."""

    url: str
    body: bytes
    headers: dict[str, str]
    context: Any = None  # the caller's (the message being tried)
    status_code: int | None = None
    response_text: str = ""
    error: str = ""
    refused: bool = False  # the URL may not receive webhooks now: no request was made
    duration_ms: int = 0
    deadline: float = float("inf")
    client: httpx.Client | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_threads: tuple[int, ThreadPoolExecutor] | None = None
# How long past the deadline the drain waits for a post's thread to notice its closed connection.
GRACE = 1.0


def _posting_threads(size: int) -> ThreadPoolExecutor:
    global _threads
    if _threads is None or _threads[0] != os.getpid():
        _threads = (os.getpid(), ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhooks"))
    return _threads[1]


def _request(target: Target, post: Post) -> httpx.Request:
    """The POST to the checked address, naming the host for TLS (SNI, certificate) and in Host."""
    url = httpx.URL(target.url)
    headers = dict(post.headers)
    extensions: dict[str, Any] = {}
    if target.address is not None:
        headers["host"] = url.netloc.decode("ascii")
        url = url.copy_with(host=target.address)
        if url.scheme == "https":
            extensions["sni_hostname"] = target.hostname
    return httpx.Request("POST", url, content=post.body, headers=headers, extensions=extensions)


def post_one(post: Post) -> Post:
    """Make the request (any thread) and fill in what came back; the whole answer, status and body
    (read up to MAX_RESPONSE_BYTES), must arrive before `post.deadline`."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    started = time.monotonic()
    try:
        target = url_check(
            post.url, allow_private=allow_private, require_https=not (settings.DEBUG or allow_private)
        )
        # A client per post, no proxies from the environment, no redirects: the drain closes it when
        # the post's deadline passes, which ends a receiver dripping its answer byte by byte.
        post.client = httpx.Client(timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False)
        response = post.client.send(_request(target, post), stream=True)
        try:
            post.status_code = response.status_code
            chunk = b""
            for part in response.iter_bytes():
                chunk += part
                if len(chunk) >= MAX_RESPONSE_BYTES or time.monotonic() > post.deadline:
                    break
            if time.monotonic() > post.deadline:
                post.status_code = None
                raise httpx.ReadTimeout("the answer did not arrive within the deadline")
            post.response_text = chunk[:MAX_RESPONSE_BYTES].decode(errors="replace")
        finally:
            response.close()
    except UnsafeUrl as exc:
        post.error, post.refused = f"refused: {exc}", True
    except httpx.HTTPError as exc:
        # Past the deadline the drain closed the connection under this thread: a timeout, whatever
        # the read that noticed it says.
        late = time.monotonic() > post.deadline
        post.status_code = None if late else post.status_code
        post.error = _error_text(httpx.ReadTimeout("") if late else exc)
    finally:
        if post.client is not None:
            post.client.close()
    post.duration_ms = int((time.monotonic() - started) * 1000)
    return post


def _error_text(exc: Exception) -> str:
    """What went wrong, without the addresses a lower layer may put in its message."""
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__}: no complete answer within {settings.WEBHOOK_TIMEOUT} s"
    if isinstance(exc, httpx.ConnectError):
        return "ConnectError: the receiver could not be reached"
    return f"{type(exc).__name__}: the request failed"


def posts_send(posts: list[Post], *, threads: int) -> list[Post]:
    """Every post of a batch at once (one thread each), each with one overall deadline
    (WEBHOOK_TIMEOUT); a post still running at it has its connection closed and counts as timed out.
    The posts, filled in, in order."""
    deadline = time.monotonic() + settings.WEBHOOK_TIMEOUT
    for post in posts:
        post.deadline = deadline
    if not posts:
        return posts
    # Even a single post runs in a thread: this one watches the deadline and closes it when it passes
    # (a receiver dripping its headers byte by byte never trips a read timeout).
    futures = [_posting_threads(threads).submit(post_one, post) for post in posts]
    _, late = wait(futures, timeout=max(deadline - time.monotonic(), 0) + 0.05)
    for future, post in zip(futures, posts, strict=True):
        if future in late:
            post.status_code, post.error = None, _error_text(httpx.ReadTimeout(""))
            if post.client is not None:
                post.client.close()
    wait(late, timeout=GRACE)
    return posts
