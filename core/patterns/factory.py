"""A factory of named plugins built from dotted paths in settings (like Django's email backends).

Instances are cached per process: a channel keeps its HTTP client or SMTP connection for the life of
a worker process, and a forked worker child builds its own on first use.
"""

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.utils.module_loading import import_string

T = TypeVar("T")


class PluginFactory(Generic[T]):
    def __init__(self, paths: Callable[[], dict[str, str]]) -> None:
        self._paths = paths
        self._instances: dict[str, T] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self._paths())

    def get(self, name: str) -> T:
        """The process's instance of plugin `name`; KeyError if it is not configured."""
        if self._pid != os.getpid():  # forked: never share a socket with the parent
            self._instances, self._pid = {}, os.getpid()
        instance = self._instances.get(name)
        if instance is None:
            with self._lock:
                instance = self._instances.get(name)
                if instance is None:
                    instance = import_string(self._paths()[name])()
                    self._instances[name] = instance
        return instance

    def reset(self) -> None:
        """Forget every instance (after settings change, in tests)."""
        self._instances = {}
