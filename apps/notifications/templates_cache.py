"""Template look-ups for rendering: memoised in each process under a version kept in Redis.

Templates are read for every message and change rarely. Each process keeps the templates it has read,
tagged with the version it read them under; a save or delete anywhere (admin, API, shell) sets a new
version once committed, so the next render in every process reads the database again. With the
cache off or Redis unreachable there is no version to trust and every look-up reads the database;
MEMO_SECONDS bounds how long a memo may live if a version change was lost (Redis down at commit).
"""

import time
from typing import Any

from django.conf import settings

from apps.notifications.models import NotificationTemplate
from core.cache import CACHE_REQUESTS, version_bump_on_commit, version_get

VERSION_KEY = "templates:version"
_memo: dict[tuple[str, str], tuple[str, float, dict[str, NotificationTemplate]]] = {}


def _load(key: str, channel: str) -> dict[str, NotificationTemplate]:
    return {t.language: t for t in NotificationTemplate.objects.filter(key=key, channel=channel)}


def template_find(*, key: str, channel: str, language: str) -> NotificationTemplate | None:
    """The template for `language`, else its English one, else None."""
    version = version_get("templates", VERSION_KEY)
    if version is None:
        _memo.clear()  # a version change may be missed while Redis is away
        by_language = _load(key, channel)
    else:
        memo = _memo.get((key, channel))
        if memo is not None and memo[0] == version and time.monotonic() - memo[1] < settings.CACHE_TIMEOUT:
            CACHE_REQUESTS.labels("templates", "hit").inc()
            by_language = memo[2]
        else:
            CACHE_REQUESTS.labels("templates", "miss").inc()
            by_language = _load(key, channel)
            _memo[(key, channel)] = (version, time.monotonic(), by_language)
    return by_language.get(language) or by_language.get("en")


def templates_changed(**_: Any) -> None:
    """A template was saved or deleted: every process reads templates again after the commit."""
    _memo.clear()
    version_bump_on_commit(VERSION_KEY)
