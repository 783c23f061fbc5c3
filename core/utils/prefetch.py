"""Relations already in memory, marked as loaded."""

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
