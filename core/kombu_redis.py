"""kombu's Redis transport, with a closed channel failing like a lost connection.

When the broker connection drops, the worker's consumer closes its channels (kombu sets their
`connection` to None) and reconnects. A task that finishes after that (acks_late) acknowledges through
its old channel; kombu's Redis channel then builds a connection pool from `self.connection.client` and
fails with "AttributeError: 'NoneType' object has no attribute 'hostname'" (kombu issue #582). Celery
catches the transport's connection errors around an acknowledgement (it logs "Couldn't ack" and the
unacknowledged task is delivered again after the visibility timeout), but an AttributeError stops the
worker as unrecoverable. Here that case raises redis-py's ConnectionError instead, one of the
connection errors Celery already handles. Selected by CELERY_BROKER_TRANSPORT for redis:// brokers.
"""

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection is None:
            raise redis.exceptions.ConnectionError("the broker channel was closed with its connection")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(url: str) -> str | None:
    """The transport for a broker URL: this one for Redis, kombu's choice for anything else."""
    return "core.kombu_redis:Transport" if url.startswith(("redis://", "rediss://")) else None
