"""kombu's Redis transport, with a closed channel failing like a lost connection.

When the broker connection drops, the worker's consumer closes its channels (kombu sets their
`connection` to None, or the transport's `client`) and reconnects. A task that finishes after that
(acks_late) acknowledges through its old channel, and closing the old channel restores its
unacknowledged tasks through it; kombu's Redis channel then builds a connection pool from
`self.connection.client` and fails with "AttributeError: 'NoneType' object has no attribute
'hostname'" (kombu issue #582). Celery and kombu catch the transport's connection errors on both
paths (an ack logs "Couldn't ack"; a close ignores them; the tasks stay in the broker's unacked set
and come back after the visibility timeout, and the outbox sweep wakes the drains anyway), but an
AttributeError stops the worker as unrecoverable. Here those cases raise redis-py's ConnectionError
instead. Selected by CELERY_BROKER_TRANSPORT for redis:// and sentinel:// brokers.
"""

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class _ClosedChannelIsAConnectionError:
    connection: Any

    def _connparams(self, asynchronous: bool = False) -> Any:
        # Closed with its connection: the channel's `connection` is None, or that transport's
        # `client` is (restoring unacknowledged tasks while the consumer closes the old channel).
        if self.connection is None or getattr(self.connection, "client", None) is None:
            raise redis.exceptions.ConnectionError("the broker channel was closed with its connection")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]


class Channel(_ClosedChannelIsAConnectionError, kombu_redis.Channel):
    pass


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(_ClosedChannelIsAConnectionError, kombu_redis.SentinelChannel):
    pass


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Sentinel transport (sentinel:// broker URLs: the master found through Sentinel, and
    found again after a failover), with the same fix."""

    Channel = SentinelChannel


def transport_for(url: str) -> str | None:
    """The transport for a broker URL: these for Redis and Sentinel, kombu's choice for the rest."""
    if url.startswith("sentinel://"):
        return "core.kombu_redis:SentinelTransport"
    return "core.kombu_redis:Transport" if url.startswith(("redis://", "rediss://")) else None
