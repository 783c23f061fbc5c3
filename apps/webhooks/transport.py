"""Posting signed webhook messages over HTTP: no database here, only the network.

A batch's posts go out at once, a thread each, so a slow receiver holds up one thread, not the batch.
Redirects are not followed, response bodies are read up to MAX_RESPONSE_BYTES, and the URL is checked
again right before the request (DNS may have changed since the endpoint was saved).
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from apps.webhooks.safety import UnsafeUrl, url_check

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

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_client: tuple[int, httpx.Client] | None = None
_threads: tuple[int, ThreadPoolExecutor] | None = None


def _http() -> httpx.Client:
    """One client per process (pool processes fork: never share one across a fork)."""
    global _client
    if _client is None or _client[0] != os.getpid():
        _client = (os.getpid(), httpx.Client(timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False))
    return _client[1]


def _posting_threads(size: int) -> ThreadPoolExecutor:
    global _threads
    if _threads is None or _threads[0] != os.getpid():
        _threads = (os.getpid(), ThreadPoolExecutor(max_workers=size, thread_name_prefix="webhooks"))
    return _threads[1]


def post_one(post: Post) -> Post:
    """Make the request (any thread) and fill in what came back."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    started = time.monotonic()
    try:
        url_check(post.url, allow_private=allow_private, require_https=not (settings.DEBUG or allow_private))
        with _http().stream("POST", post.url, content=post.body, headers=post.headers) as response:
            post.status_code = response.status_code
            chunk = b""
            for part in response.iter_bytes():
                chunk += part
                if len(chunk) >= MAX_RESPONSE_BYTES:
                    break
            post.response_text = chunk[:MAX_RESPONSE_BYTES].decode(errors="replace")
    except UnsafeUrl as exc:
        post.error, post.refused = f"refused: {exc}", True
    except httpx.HTTPError as exc:
        post.error = f"{type(exc).__name__}: {exc}"[:500]
    post.duration_ms = int((time.monotonic() - started) * 1000)
    return post


def posts_send(posts: list[Post], *, threads: int) -> list[Post]:
    """Every post of a batch at once (one thread each); the posts, filled in, in order."""
    if len(posts) > 1:
        return list(_posting_threads(threads).map(post_one, posts))
    return [post_one(post) for post in posts]
