"""The inbox's part of /health/ (registered in InboxConfig.ready): the stream processes that reported
in the last 30 s, the streams they hold, and whether each one's Redis subscription runs."""

from typing import Any

import redis

from apps.inbox.bus import stream_processes


def check_inbox() -> dict[str, Any]:
    try:
        processes = stream_processes()
    except redis.RedisError:
        return {"transport": "redis", "stream_processes": None, "error": "Redis did not answer"}
    if processes is None:
        return {"transport": "database", "stream_processes": None}
    return {
        "transport": "redis",
        "stream_processes": len(processes),
        "streams_open": sum(int(p.get("open", 0)) for p in processes.values()),
        "unsubscribed": sorted(name for name, p in processes.items() if not p.get("subscribed")),
    }


def inbox_degrades(result: dict[str, Any]) -> bool:
    """A stream process without its subscription delivers events up to INBOX_POLL_SECONDS_WITH_REDIS late."""
    return bool(result.get("unsubscribed"))
