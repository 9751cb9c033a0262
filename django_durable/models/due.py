"""The scheduler's two statements on the schedule table: take a batch of due schedules,
and move the ones it fires on with one compare-and-set.

Both are SQL built once per vendor (the scheduler runs them every second, and over a
burst of thousands of schedules once per batch). Rows come back as :class:`DueSchedule`
values that keep the primary key as the database returned it, and ``updated_at`` and
``next_fire_at`` as exact UTC text, so the compare-and-set and the exclusion of skipped
rows compare what is stored. (Text also spares a datetime conversion per row and column:
the rows of a burst share their ``next_fire_at``, which is parsed once.)
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_durable.models.bulk import (
    Quote,
    as_text,
    cached_sql,
    field_of,
    json_rows,
    set_based,
    source,
)
from django_durable.models.schedules import ScheduleStatus, WorkflowSchedule

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
"""A lower bound before every ``next_fire_at``."""

_COLUMNS = (
    "schedule_id",
    "updated_at",
    "schedule_name",
    "workflow_name",
    "workflow_class_name",
    "schedule",
    "cron_timezone",
    "context",
    "next_fire_at",
    "automatic_backfill",
    "queue_name",
)
_TIMES = ("updated_at", "next_fire_at")


def _column(q: Quote, postgresql: bool, name: str) -> str:
    """A column of the SELECT; the key and the times as text."""
    if name == "schedule_id" and postgresql:
        return f"{q(name)}::text"
    if name not in _TIMES:
        return q(name)
    if postgresql:  # explicit, whatever the session's DateStyle and TimeZone
        return f"""to_char({q(name)} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00:00"')"""
    return f"CAST({q(name)} AS TEXT)"  # as Django stores it: naive UTC


class DueSchedule(NamedTuple):
    """A due schedule as the scheduler reads it (a tuple: bursts build thousands)."""

    key: str
    """The primary key as text (see :func:`key_text`)."""
    version: str
    """``updated_at`` as exact text (see :func:`time_text`): a skipped row is retried once
    it changes."""
    schedule_name: str
    """The schedule's name."""
    workflow_name: str
    """Registered name of its workflow."""
    workflow_class_name: str | None
    """Registered class of its workflow, ``None`` for a function."""
    schedule: str
    """The cron expression."""
    cron_timezone: str | None
    """Its IANA timezone, ``None`` for UTC."""
    context: str | None
    """The context as stored JSON text (``None``: no context)."""
    next_fire_at: datetime
    """The slot it is due for (aware, UTC)."""
    expected: str
    """``next_fire_at`` as exact text (the compare-and-set's old value)."""
    automatic_backfill: bool
    """Whether missed slots are enqueued."""
    queue_name: str | None
    """The queue of its runs, ``None`` for the internal one."""


class Advance(NamedTuple):
    """How the compare-and-set moves one fired schedule on."""

    key: str
    """The primary key, as in :class:`DueSchedule`."""
    expected: str
    """The ``next_fire_at`` it was selected with, as in :class:`DueSchedule`."""
    next_fire_at: datetime
    """Its next slot."""
    last_fired_at: datetime | None
    """The last slot it enqueued (``None``: keep the previous one)."""


def key_text(connection: BaseDatabaseWrapper, key: uuid.UUID) -> str:
    """A schedule's primary key as the due SELECT returns it."""
    return str(key) if connection.vendor == "postgresql" else key.hex


def time_text(connection: BaseDatabaseWrapper, value: datetime) -> str:
    """An aware time as the due SELECT returns a stored one: exact UTC text."""
    if connection.vendor == "postgresql":
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
    return str(connection.ops.adapt_datetimefield_value(value))


@functools.lru_cache(maxsize=1024)
def _aware(text: str) -> datetime:
    """A time the due SELECT returned, as an aware datetime (UTC)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _names(values: Sequence[str], postgresql: bool) -> Any:
    return list(values) if postgresql else json.dumps(list(values))


def _due_sql(q: Quote, postgresql: bool, *, lock: bool, columns: Sequence[str]) -> str:
    # Identifiers come from model metadata (quoted); every value is a parameter.
    table = q(WorkflowSchedule._meta.db_table)
    if postgresql:
        names = f"{q('workflow_name')} = ANY(%s)"
        skipped = (
            f"({q('schedule_id')}, {q('updated_at')}) NOT IN "  # noqa: S608
            "(SELECT (k->>0)::uuid, (k->>1)::timestamptz "
            "FROM jsonb_array_elements(%s::jsonb) AS k)"
        )
    else:
        names = f"{q('workflow_name')} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        skipped = (
            "NOT EXISTS (SELECT 1 FROM json_each(%s) AS k "  # noqa: S608
            f"WHERE json_extract(k.value, '$[0]') = {q('schedule_id')} "
            f"AND json_extract(k.value, '$[1]') = {q('updated_at')})"
        )
    # The status is a literal so that the partial index "durable_schedule_due" applies,
    # and the order is that index's: among schedules due at one instant, the one that
    # fired most recently (the most frequent) first.
    return (
        f"SELECT {', '.join(_column(q, postgresql, name) for name in columns)} "  # noqa: S608
        f"FROM {table} "
        f"WHERE {q('status')} = '{ScheduleStatus.ACTIVE.value}' "
        f"AND {q('next_fire_at')} > %s AND {q('next_fire_at')} <= %s "
        f"AND {names} AND {skipped} "
        f"ORDER BY {q('next_fire_at')}, {q('last_fired_at')} DESC LIMIT %s"
        + (" FOR UPDATE SKIP LOCKED" if lock and postgresql else "")
    )


def _due_params(
    connection: BaseDatabaseWrapper,
    after: datetime,
    upto: datetime,
    workflow_names: Sequence[str],
    skipped: Sequence[tuple[Any, Any]],
    limit: int,
) -> list[Any]:
    adapt = connection.ops.adapt_datetimefield_value
    postgresql = connection.vendor == "postgresql"
    return [
        adapt(after),
        adapt(upto),
        _names(workflow_names, postgresql),
        json_rows(skipped),
        limit,
    ]


def select_due(
    using: str,
    *,
    after: datetime,
    upto: datetime,
    workflow_names: Sequence[str],
    skipped: Sequence[tuple[Any, Any]] = (),
    limit: int,
) -> list[DueSchedule]:
    """Up to ``limit`` active schedules due in ``(after, upto]`` of these workflows, in
    the due index's order, except the ``(key, version)`` pairs in ``skipped``.

    On PostgreSQL the rows are locked (``FOR UPDATE SKIP LOCKED``) until the caller's
    transaction ends, so schedulers running at once take different rows; on SQLite the
    caller's exclusive transaction does the same.
    """
    connection = connections[using]
    sql = cached_sql(
        connection, "due/select", lambda q, pg: _due_sql(q, pg, lock=True, columns=_COLUMNS)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, _due_params(connection, after, upto, workflow_names, skipped, limit))
        rows = cursor.fetchall()
    return [
        DueSchedule(
            key,
            version,
            name,
            workflow,
            class_name or None,
            cron,
            zone or None,
            context,
            _aware(next_fire_at),
            next_fire_at,
            bool(backfill),
            queue or None,
        )
        for (
            key,
            version,
            name,
            workflow,
            class_name,
            cron,
            zone,
            context,
            next_fire_at,
            backfill,
            queue,
        ) in rows
    ]


def earliest_due(
    using: str, *, workflow_names: Sequence[str], skipped: Sequence[tuple[Any, Any]] = ()
) -> datetime | None:
    """The earliest ``next_fire_at`` among the schedules :func:`select_due` could take
    (``None`` if there is none); reads without locking."""
    connection = connections[using]
    sql = cached_sql(
        connection,
        "due/earliest",
        lambda q, pg: _due_sql(q, pg, lock=False, columns=["next_fire_at"]),
    )
    latest = datetime(9999, 1, 1, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute(sql, _due_params(connection, EARLIEST, latest, workflow_names, skipped, 1))
        row = cursor.fetchone()
    return None if row is None else _aware(row[0])


_ADVANCE_NAMES = ["key", "expected", "next_fire_at", "last_fired_at"]


def _advance_sql(q: Quote, postgresql: bool, connection: BaseDatabaseWrapper) -> str:
    table = q(WorkflowSchedule._meta.db_table)
    fields = [field_of(WorkflowSchedule, name) for name in ("schedule_id", *("next_fire_at",) * 3)]
    return (
        f"UPDATE {table} SET {q('next_fire_at')} = v.{q('next_fire_at')}, "  # noqa: S608
        f"{q('last_fired_at')} = COALESCE(v.{q('last_fired_at')}, {table}.{q('last_fired_at')}), "
        f"{q('updated_at')} = %s "
        f"FROM {source(fields, connection, names=_ADVANCE_NAMES)} "
        f"WHERE {table}.{q('schedule_id')} = v.{q('key')} "
        f"AND {table}.{q('status')} = '{ScheduleStatus.ACTIVE.value}' "
        f"AND {table}.{q('next_fire_at')} = v.{q('expected')} "
        f"RETURNING {table}.{q('schedule_id')}{'::text' if postgresql else ''}"
    )


def advance_due(using: str, moves: Sequence[Advance], now: datetime) -> set[str]:
    """Move fired schedules on in one compare-and-set statement: each row still active
    with its expected ``next_fire_at`` gets its new one (and ``last_fired_at``); the keys
    of the rows moved (the others were moved or paused by someone else)."""
    if not moves:
        return set()
    connection = connections[using]
    adapted: dict[datetime | None, Any] = {None: None}

    def adapt(value: datetime | None) -> Any:
        # Many schedules share their next and last slots: each is converted once.
        if value not in adapted:
            adapted[value] = as_text(connection.ops.adapt_datetimefield_value(value))
        return adapted[value]

    stamp = connection.ops.adapt_datetimefield_value(now)
    rows = [
        (move.key, move.expected, adapt(move.next_fire_at), adapt(move.last_fired_at))
        for move in moves
    ]
    with connection.cursor() as cursor:
        if not set_based(connection):
            return _advance_one_by_one(connection, cursor, rows, stamp)
        sql = cached_sql(connection, "due/advance", lambda q, pg: _advance_sql(q, pg, connection))
        cursor.execute(sql, [stamp, json_rows(rows)])
        return {key for (key,) in cursor.fetchall()}


def _advance_one_by_one(
    connection: BaseDatabaseWrapper, cursor: Any, rows: list[tuple[Any, ...]], stamp: Any
) -> set[str]:
    q = connection.ops.quote_name
    sql = (
        f"UPDATE {q(WorkflowSchedule._meta.db_table)} SET {q('next_fire_at')} = %s, "  # noqa: S608
        f"{q('last_fired_at')} = COALESCE(%s, {q('last_fired_at')}), {q('updated_at')} = %s "
        f"WHERE {q('schedule_id')} = %s AND {q('status')} = '{ScheduleStatus.ACTIVE.value}' "
        f"AND {q('next_fire_at')} = %s"
    )
    moved = set()
    for key, expected, next_fire_at, last_fired_at in rows:
        cursor.execute(sql, [next_fire_at, last_fired_at, stamp, key, expected])
        if cursor.rowcount == 1:
            moved.add(key)
    return moved
