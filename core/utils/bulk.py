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


def _insertable(model: type[Model]) -> list["Field[Any, Any]"]:
    pk = model._meta.pk
    return [
        cast("Field[Any, Any]", f)
        for f in model._meta.concrete_fields
        if f is not pk and not getattr(f, "generated", False)
    ]


def insert_with_children(parent: Model, children: Sequence[Model], *, fk: str) -> None:
    """INSERT a new row and its new child rows (each pointing at it through `fk`) in one statement,
    and set their primary keys: a CTE inserts the parent, the children select its id. Field defaults
    and auto timestamps are applied as Django's own INSERT applies them. Other databases: the ORM,
    inside the caller's transaction."""
    if connection.vendor != "postgresql":
        parent.save(force_insert=True)
        for child in children:
            setattr(child, fk, parent)
        if children:
            type(children[0])._default_manager.bulk_create(children)
        return
    parent_fields = _insertable(type(parent))
    parent_values = [f.get_db_prep_save(f.pre_save(parent, True), connection) for f in parent_fields]
    parent_table, parent_pk = type(parent)._meta.db_table, cast("Field[Any, Any]", type(parent)._meta.pk)
    sql = (
        f"WITH p AS (INSERT INTO {parent_table} ({', '.join(f.column for f in parent_fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(parent_fields))}) RETURNING {parent_pk.column})"
    )
    params: list[Any] = list(parent_values)
    if children:
        child_model = type(children[0])
        link = cast("Field[Any, Any]", child_model._meta.get_field(fk))
        fields = [f for f in _insertable(child_model) if f is not link]
        for child in children:
            for field in fields:
                field.pre_save(child, True)  # auto timestamps, as an INSERT would set them
        casts, values = _arrays(children, fields)
        names = ", ".join(str(f.column) for f in fields)
        child_pk = cast("Field[Any, Any]", child_model._meta.pk)
        sql += (
            f", c AS (INSERT INTO {child_model._meta.db_table} ({link.column}, {names}) "  # noqa: S608
            f"SELECT p.{parent_pk.column}, u.* FROM p, unnest({casts}) AS u({names}) "
            f"RETURNING {child_pk.column})"
        )
        params += values
        sql += f" SELECT p.{parent_pk.column}, ARRAY(SELECT * FROM c ORDER BY 1) FROM p"  # noqa: S608
    else:
        sql += f" SELECT p.{parent_pk.column}, ARRAY[]::bigint[] FROM p"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        parent_id, child_ids = cursor.fetchone()
    parent.pk = parent_id
    parent._state.adding = False
    for child, child_id in zip(children, child_ids, strict=True):
        setattr(child, fk, parent)
        child.pk = child_id
        child._state.adding = False
