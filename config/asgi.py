"""ASGI entry point for uvicorn (bin/start stream): the inbox's live stream (apps.inbox.stream) on
/inbox/stream/, every other route through Django's ASGI handler; production settings unless told
otherwise."""

import contextlib
import os
from typing import Any

from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

django_application = get_asgi_application()

from apps.inbox.bus import process_gone  # noqa: E402 - needs the apps loaded
from apps.inbox.stream import PATH, stream_app  # noqa: E402

Receive = Any
Send = Any


async def application(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and scope["path"] == PATH:
        await stream_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await django_application(scope, receive, send)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start: streams end with their connections. At shutdown the process takes its report
    out of /health/'s list of stream processes."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            with contextlib.suppress(Exception):  # Redis down: the report expires by itself
                await sync_to_async(process_gone)()
            await send({"type": "lifespan.shutdown.complete"})
            return
