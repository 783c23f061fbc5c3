"""Relations already in memory: marked as loaded, and read back without a query.

The one module that touches Django's prefetch cache (`_prefetched_objects_cache`)."""

from collections.abc import Iterable
from typing import Any

from django.db.models import Model


def with_prefetched(instance: Model, **relations: Iterable[Any]) -> Model:
    """Mark reverse relations of `instance` as loaded with these rows, as `prefetch_related` does, when
    the rows are in memory already (just written): serializing them then costs no query."""
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in relations.items():
        queryset = getattr(instance, name).all()
        queryset._result_cache = list(rows)
        queryset._prefetch_done = True
        cache[name] = queryset
    return instance


def prefetched(instance: Model, name: str) -> list[Any]:
    """The rows of a relation a read prefetched (or `with_prefetched` set), or [] when it was not
    loaded: an instance just created has none yet, and reading it must not cost a query."""
    cache = instance.__dict__.get("_prefetched_objects_cache", {})
    return list(cache[name]) if name in cache else []
