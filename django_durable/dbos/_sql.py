"""``DBOS.sql_session`` inside ``@DBOS.transaction``: SQL on the transaction's connection.

``execute()`` takes a SQL string or a SQLAlchemy ``text()`` clause with ``:name``
parameters (SQLAlchemy itself is not needed for strings), runs it on the Django connection
of the transaction (so it commits or rolls back with the step and its checkpoint) and
returns the rows at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from typing import Any

from django.db import connections

from django_durable import conf
from django_durable.exceptions import InvalidStateError

_NAMED = re.compile(r"(?<![:\w\\]):(\w+)")
"""A ``:name`` parameter (not a PostgreSQL ``::type`` cast, nor an escaped ``\\:``)."""


def _statement(statement: Any) -> tuple[str, dict[str, Any]]:
    """The SQL text of ``statement`` and the values bound into it (``text().bindparams``)."""
    if isinstance(statement, str):
        return statement, {}
    text = getattr(statement, "text", None)
    if not isinstance(text, str):
        raise TypeError(
            f"sql_session.execute() takes a SQL string or a sqlalchemy text() clause, "
            f"got {statement!r}."
        )
    bound = {
        key: param.value
        for key, param in getattr(statement, "_bindparams", {}).items()
        if getattr(param, "value", None) is not None
    }
    return text, bound


def to_pyformat(sql: str, params: Mapping[str, Any]) -> str:
    """``:name`` parameters as the ``%(name)s`` Django's cursor takes; ``%`` doubled."""
    missing = sorted(set(_NAMED.findall(sql)) - set(params))
    if missing:
        raise ValueError(f"No value given for the SQL parameter(s) {', '.join(missing)}.")
    escaped = sql.replace("%", "%%")
    return _NAMED.sub(lambda match: f"%({match.group(1)})s", escaped).replace("\\:", ":")


def _adapt(connection: Any, value: Any) -> Any:
    """A date or time as the connection stores it (as Django's own fields would)."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return connection.ops.adapt_datefield_value(value)
    if isinstance(value, time):
        return connection.ops.adapt_timefield_value(value)
    return value


class Result:
    """The rows of one statement, read at once (SQLAlchemy's ``Result`` methods)."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while (row := self.fetchone()) is not None:
            yield row

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    all = fetchall

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def first(self) -> tuple[Any, ...] | None:
        row = self.fetchone()
        self._next = len(self._rows)
        return row

    def scalar(self) -> Any:
        """The first column of the first row (``None`` without rows)."""
        row = self.first()
        return row[0] if row is not None else None


class SQLSession:
    """What ``DBOS.sql_session`` is inside a ``@DBOS.transaction`` function."""

    def __init__(self, using: str) -> None:
        self.using = using

    def execute(self, statement: Any, params: Mapping[str, Any] | None = None) -> Result:
        sql, bound = _statement(statement)
        connection = connections[self.using]
        values = {
            key: _adapt(connection, value) for key, value in {**bound, **(params or {})}.items()
        }
        with connection.cursor() as cursor:
            if values or _NAMED.search(sql):
                cursor.execute(to_pyformat(sql, values), values)
            else:
                cursor.execute(sql)
            rows = list(cursor.fetchall()) if cursor.description is not None else []
            return Result([tuple(row) for row in rows], cursor.rowcount)


def sql_session() -> SQLSession:
    """The session of the ``@transaction`` running in this context."""
    using = conf.database_alias()
    if not connections[using].in_atomic_block:
        raise InvalidStateError(
            "DBOS.sql_session is only available inside a @DBOS.transaction() function."
        )
    return SQLSession(using)
