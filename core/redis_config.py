"""Where Redis is: one server (REDIS_URL), or a master that Redis Sentinel names (REDIS_SENTINELS and
REDIS_SENTINEL_MASTER) and names again after a failover.

With Sentinel, REDIS_URL still gives the database number and password; its host and port are not
used. Every Redis user finds the master through here: the cache (`cache_settings`), the broker
(`broker_url`, kombu's Sentinel transport), and the shared runtime state: rate limits, circuit
breakers, wakes, heartbeats (`client`). A client asks the Sentinels for the master whenever it
(re)connects, so after a failover the next command after a connection error reaches the new master.
Used by the settings modules, so nothing here reads Django settings at import time.
"""

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.sentinel import Sentinel

# Short timeouts: a Redis outage or a failover must cost milliseconds per call, not hang a request.
TIMEOUTS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}


Sentinels = list[tuple[str, int]]


def parse_sentinels(values: list[str]) -> Sentinels:
    """["host:port", ...] -> [(host, port), ...]; the port defaults to Sentinel's 26379."""
    hosts = []
    for value in filter(None, (v.strip() for v in values)):
        host, colon, port = value.rpartition(":")
        if not colon or host.endswith(":"):  # no port, or a bare IPv6 address
            host, port = value, ""
        hosts.append((host.strip("[]"), int(port or 26379)))
    return hosts


def _db_and_password(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    path = parts.path.strip("/")
    return {"db": int(path) if path.isdigit() else 0, "password": parts.password or None}


def master_client(url: str, *, sentinels: Sentinels, master: str, **options: Any) -> redis.Redis:
    """A client of the master that the Sentinels name, on `url`'s database and password."""
    sentinel = Sentinel(sentinels, sentinel_kwargs=dict(TIMEOUTS), **{**TIMEOUTS, **options})
    return sentinel.master_for(master, **_db_and_password(url))


def client(url: str, *, sentinels: Sentinels, master: str, **options: Any) -> redis.Redis:
    """A client for `url` (redis://), or with Sentinels for their master and `url`'s database."""
    if sentinels:
        return master_client(url, sentinels=sentinels, master=master, **options)
    return redis.Redis.from_url(url, **{**TIMEOUTS, **options})


class SentinelPool:
    """Django's RedisCache `pool_class` for Sentinel: the connection pool of the named master."""

    @classmethod
    def from_url(
        cls, url: str, *, sentinels: Sentinels, master: str, parser_class: Any = None, **options: Any
    ) -> redis.ConnectionPool:
        return master_client(url, sentinels=sentinels, master=master, **options).connection_pool


def cache_settings(url: str, *, sentinels: Sentinels, master: str, **extra: Any) -> dict[str, Any]:
    """The CACHES["default"] entry for Redis at `url`, or for the Sentinels' master."""
    options: dict[str, Any] = dict(TIMEOUTS)
    if sentinels:
        options.update(pool_class="core.redis_config.SentinelPool", sentinels=sentinels, master=master)
    backend = "django.core.cache.backends.redis.RedisCache"
    return {"BACKEND": backend, "LOCATION": url, "OPTIONS": options, **extra}


def broker_url(url: str, *, sentinels: Sentinels) -> str:
    """The Celery broker URL for `url`: with Sentinels, a redis:// URL becomes kombu's sentinel:// list
    on its database (the Sentinels win over its host); anything else is left as it is."""
    if not sentinels or not url.startswith(("redis://", "rediss://")):
        return url
    params = _db_and_password(url)
    auth = f":{params['password']}@" if params["password"] else ""
    return ";".join(f"sentinel://{auth}{host}:{port}/{params['db']}" for host, port in sentinels)


def broker_client(url: str, *, master: str) -> redis.Redis:
    """A client of the broker's Redis (queue depths for metrics), from a redis:// or sentinel:// URL."""
    if not url.startswith("sentinel://"):
        return client(url, sentinels=[], master=master)
    urls = url.split(";")
    sentinels = [(parts.hostname or "127.0.0.1", parts.port or 26379) for parts in map(urlsplit, urls)]
    return master_client(urls[0].replace("sentinel://", "redis://", 1), sentinels=sentinels, master=master)


def broker_transport_options(url: str, *, master: str) -> dict[str, object]:
    """kombu transport options for the broker at `url` (Redis or Sentinel; others get none)."""
    if url.startswith("sentinel://"):
        # kombu's Sentinel transport: the master's name, and timeouts for asking the Sentinels.
        sentinel = {"master_name": master, "sentinel_kwargs": dict(TIMEOUTS)}
        return {**broker_transport_options("redis://", master=master), **sentinel}
    if not url.startswith(("redis://", "rediss://")):
        return {}
    return {
        # Redis redelivers an unacknowledged task after the visibility timeout; it must exceed the
        # longest countdown (NOTIFICATION_BACKOFF_CAP) or a delayed retry would be delivered twice.
        "visibility_timeout": 3600,
        "socket_connect_timeout": 1,
        "socket_timeout": 5,
        # Order-status notifications (priority 0) are taken before bulk ones (6).
        "priority_steps": [0, 3, 6, 9],
        "queue_order_strategy": "priority",
        # Publishing gives up after one quick retry instead of kombu's default of several seconds:
        # on the request path the rows are committed already and the outbox sweep sends later.
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }
