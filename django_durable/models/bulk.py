"""Set-based SQL: many rows in one statement, its text built once per database vendor.

The rows travel as one parameter, a JSON array of rows, which the database unpacks
(``jsonb_array_elements`` on PostgreSQL, ``json_each`` on SQLite). The text of a statement
does not depend on how many rows it carries, so it is built once, and a batch of any
size is one round trip with one parameter: no placeholder limit to split around, and one
string for the driver to quote instead of thousands of values (Django's PostgreSQL
connection binds parameters on the client).

SQLite before 3.35 has neither ``UPDATE ... FROM`` with ``RETURNING``; there the updates
run one statement per row inside the caller's transaction (SQLite runs in-process, so
this costs no round trips), with the same effect.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

Quote = Callable[[str], str]

_sql_cache: dict[tuple[str, str], str] = {}


def cached_sql(
    connection: BaseDatabaseWrapper, key: str, build: Callable[[Quote, bool], str]
) -> str:
    """The SQL text ``key`` for this connection's vendor, built once by
    ``build(quote_name, postgresql)``."""
    text = _sql_cache.get((connection.vendor, key))
    if text is None:
        postgresql = connection.vendor == "postgresql"
        text = _sql_cache[(connection.vendor, key)] = build(connection.ops.quote_name, postgresql)
    return text


def set_based(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``UPDATE ... FROM ... RETURNING`` is available (PostgreSQL; SQLite 3.35+)."""
    return connection.vendor == "postgresql" or bool(
        connection.features.can_return_columns_from_insert
    )


def field_of(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """The concrete field ``name`` of ``model``."""
    found = model._meta.get_field(name)
    assert isinstance(found, models.Field)  # noqa: S101  (a column, not a relation)
    return found


def source(
    fields: Sequence[models.Field[Any, Any]],
    connection: BaseDatabaseWrapper,
    *,
    names: Sequence[str] | None = None,
) -> str:
    """A derived table ``v`` with one column per field (named after its column, or
    ``names``), of the type of that field, read from one :func:`json_rows` parameter."""
    q = connection.ops.quote_name
    columns = list(names) if names is not None else [str(f.column) for f in fields]
    if connection.vendor == "postgresql":
        items = ", ".join(
            f"(e->>{index})::{field.db_type(connection)} AS {q(name)}"
            for index, (field, name) in enumerate(zip(fields, columns, strict=True))
        )
        return f"(SELECT {items} FROM jsonb_array_elements(%s::jsonb) AS e) AS v"  # noqa: S608
    items = ", ".join(
        f"json_extract(value, '$[{index}]') AS {q(name)}" for index, name in enumerate(columns)
    )
    return f"(SELECT {items} FROM json_each(%s)) AS v"  # noqa: S608


def as_text(value: Any) -> Any:
    """A prepared value as it travels in :func:`json_rows` (for values reused in many
    rows: converted once)."""
    return _as_text(value) if isinstance(value, (datetime, uuid.UUID)) else value


def json_rows(rows: Sequence[Sequence[Any]]) -> str:
    """Rows of prepared values as the one JSON parameter of :func:`source`.

    Datetimes travel as text: aware ones (PostgreSQL) in ISO 8601, naive ones (SQLite,
    where Django's connection returns datetime columns as naive UTC datetimes and stores
    them as their ``str()``) exactly as stored. UUIDs travel as text too.
    """
    return json.dumps(rows, default=_as_text, separators=(",", ":"))


def _as_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is not None else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Cannot pass {value!r} to the database as JSON.")


def prepare(field: models.Field[Any, Any], value: Any, connection: BaseDatabaseWrapper) -> Any:
    """``value`` as the database receives it for ``field`` (JSON as text)."""
    if isinstance(field, models.JSONField):
        return None if value is None else json.dumps(value, cls=field.encoder)
    return field.get_db_prep_save(value, connection)


def prepared_row(instance: models.Model, connection: BaseDatabaseWrapper) -> list[Any]:
    """Every concrete column of ``instance``, prepared, in ``_meta.concrete_fields`` order."""
    return [
        prepare(field, getattr(instance, field.attname), connection)
        for field in instance._meta.concrete_fields
    ]


def insert_ignoring_conflicts(
    using: str, model: type[models.Model], rows: Sequence[Sequence[Any]]
) -> int:
    """Insert prepared rows (every concrete column, in order) in one statement, skipping
    rows that conflict with a unique key; the number inserted."""
    if not rows:
        return 0
    connection = connections[using]
    fields = list(model._meta.concrete_fields)

    def build(q: Quote, postgresql: bool) -> str:
        columns = ", ".join(q(str(f.column)) for f in fields)
        values = ", ".join(f"v.{q(str(f.column))}" for f in fields)
        # WHERE true: SQLite needs it to read ON CONFLICT as the upsert clause.
        return (
            f"INSERT INTO {q(model._meta.db_table)} ({columns}) "  # noqa: S608
            f"SELECT {values} FROM {source(fields, connection)} WHERE true "
            f"ON CONFLICT DO NOTHING"
        )

    sql = cached_sql(connection, f"insert/{model._meta.label}", build)
    with connection.cursor() as cursor:
        cursor.execute(sql, [json_rows(rows)])
        return int(cursor.rowcount)


def update_by_pk(
    using: str,
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Set ``fields`` of each row (``(pk, *values)``, prepared) by primary key, in one
    statement."""
    if not rows:
        return
    connection = connections[using]
    opts = model._meta
    pk = opts.pk
    assert pk is not None  # noqa: S101  (every model has one)
    targets = [field_of(model, name) for name in fields]
    q = connection.ops.quote_name
    if not set_based(connection):
        sql = (
            f"UPDATE {q(opts.db_table)} SET "  # noqa: S608
            f"{', '.join(f'{q(str(f.column))} = %s' for f in targets)} "
            f"WHERE {q(str(pk.column))} = %s"
        )
        with connection.cursor() as cursor:
            for row in rows:
                cursor.execute(sql, [*row[1:], row[0]])
        return

    def build(q: Quote, postgresql: bool) -> str:
        names = ["pk", *(str(f.column) for f in targets)]
        assignments = ", ".join(f"{q(str(f.column))} = v.{q(str(f.column))}" for f in targets)
        return (
            f"UPDATE {q(opts.db_table)} SET {assignments} "  # noqa: S608
            f"FROM {source([pk, *targets], connection, names=names)} "
            f"WHERE {q(opts.db_table)}.{q(str(pk.column))} = v.{q('pk')}"
        )

    sql = cached_sql(connection, f"update/{opts.label}/{','.join(fields)}", build)
    with connection.cursor() as cursor:
        cursor.execute(sql, [json_rows(rows)])
