"""Claiming outbox rows: due rows become `sending` under a lease, in one statement.

The candidates are locked with FOR UPDATE SKIP LOCKED inside the claiming UPDATE (PostgreSQL), so
drains claiming at the same moment take disjoint batches without waiting for each other. SQLite (the
embedded mode) has no row locks; its writers take turns on the whole database, which gives the same
result. A claimed row carries `lease_until`: its drain renews it while it works (core.outbox.lease),
and a row whose lease ran out belongs to a drain that died, so `rows_expired` hands it back to the
caller's recovery.

Every outbox table has an integer `id`, a `status` and a nullable `lease_until`.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)

_CLAIM = """
UPDATE {table} SET {assign}
WHERE id IN (
    SELECT c.id FROM {table} c
    WHERE {where}
    ORDER BY {order_by}
    LIMIT %(claim_limit)s
    {lock}
)
RETURNING *
"""

_EXPIRED = """
SELECT {columns} FROM {table} c
WHERE c.status = %(expired_status)s AND c.lease_until < %(expired_now)s {where}
ORDER BY c.lease_until
LIMIT %(expired_limit)s
{lock}
"""


def _lock() -> str:
    return "FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""


def db_value(value: Any) -> Any:
    """A parameter as the database wants it (datetimes for SQLite are strings)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def rows_claim(
    model: type[M],
    *,
    where: str,
    order_by: str,
    limit: int,
    assign: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
) -> list[M]:
    """Claim up to `limit` rows of `model` matching `where`, taken in `order_by` order (both SQL over
    the candidate row, alias `c`, with `%(name)s` parameters from `params`), setting the columns of
    `assign` on them (the status, the lease). Returns the claimed rows, in no particular order."""
    values = {f"assign_{column}": db_value(value) for column, value in assign.items()}
    sql = _CLAIM.format(
        table=model._meta.db_table,
        assign=", ".join(f"{column} = %(assign_{column})s" for column in assign),
        where=where,
        order_by=order_by,
        lock=_lock(),
    )
    query: dict[str, Any] = {k: db_value(v) for k, v in (params or {}).items()}
    return list(model._default_manager.raw(sql, {**query, **values, "claim_limit": limit}))


def rows_expired(
    model: type[models.Model],
    *,
    sending: str,
    now: datetime,
    columns: Sequence[str] = ("id",),
    where: str = "",
    params: Mapping[str, Any] | None = None,
    limit: int = 5000,
) -> list[tuple[Any, ...]]:
    """Rows in status `sending` whose lease ran out before `now` (their drain died), locked for the
    caller's transaction (call it inside one); rows another transaction holds are skipped. `where`
    adds a condition (starting with AND) over alias `c`."""
    sql = _EXPIRED.format(
        columns=", ".join(f"c.{column}" for column in columns),
        table=model._meta.db_table,
        where=where,
        lock=_lock(),
    )
    query = {k: db_value(v) for k, v in (params or {}).items()}
    query.update(expired_status=sending, expired_now=db_value(now), expired_limit=limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, query)
        return [tuple(row) for row in cursor.fetchall()]
