"""Many rows in one statement without Django's per-row statement building.

On PostgreSQL both take one array per column and let unnest() turn them into rows: `bulk_write`
joins them to the table in an UPDATE, `bulk_insert` selects them into an INSERT. Django's
bulk_update builds a CASE per field and row (the delivery engine's profile showed it costing more
than the sends it recorded) and bulk_create prepares every field of every object; these prepare each
value once, with the field's own conversion. Other databases (SQLite for `make run`) use Django's.
"""

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model


def _columns(model: type[Model], fields: Sequence[str]) -> list["Field[Any, Any]"]:
    return [cast("Field[Any, Any]", model._meta.get_field(name)) for name in fields]


def _arrays(objs: Sequence[Model], columns: list["Field[Any, Any]"]) -> tuple[str, list[Any]]:
    casts = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    values = [
        [column.get_db_prep_value(getattr(obj, column.attname), connection) for obj in objs]
        for column in columns
    ]
    return casts, values


def bulk_write(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> None:
    """UPDATE `fields` of `objs` (saved rows) in one statement."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objs, fields)
        return
    columns = _columns(model, fields)
    casts, values = _arrays(objs, columns)
    names = ", ".join(str(column.column) for column in columns)
    assignments = ", ".join(f"{column.column} = v.{column.column}" for column in columns)
    pk = cast("Field[Any, Any]", model._meta.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {model._meta.db_table} AS t SET {assignments} "  # noqa: S608 - names come from the model
            f"FROM unnest(%s::{pk.db_type(connection)}[], {casts}) AS v({pk.column}, {names}) "
            f"WHERE t.{pk.column} = v.{pk.column}",
            [[obj.pk for obj in objs], *values],
        )


def bulk_insert(model: type[Model], objs: Sequence[Model], fields: Sequence[str]) -> None:
    """INSERT `objs` (new rows; their primary keys are not read back) in one statement."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    columns = _columns(model, fields)
    casts, values = _arrays(objs, columns)
    names = ", ".join(str(column.column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {model._meta.db_table} ({names}) SELECT * FROM unnest({casts})",  # noqa: S608
            values,
        )
