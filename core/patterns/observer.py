"""A synchronous in-process event bus (Observer).

Publishers call `publish` inside their database transaction, so a subscriber's writes commit or roll
back with the change that caused them; anything that leaves the process belongs in
`transaction.on_commit`. Subscribers register by event type, usually in their AppConfig.ready().
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: defaultdict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type, handler: Handler) -> None:
        if handler not in self._handlers[event_type]:
            self._handlers[event_type].append(handler)

    def unsubscribe(self, event_type: type, handler: Handler) -> None:
        if handler in self._handlers[event_type]:
            self._handlers[event_type].remove(handler)

    def publish(self, event: object) -> None:
        # No try/except: a failing subscriber must fail the transaction, not lose its side of it.
        for handler in list(self._handlers[type(event)]):
            handler(event)


event_bus = EventBus()
