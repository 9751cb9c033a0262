"""Database quirks, each in one small helper: conflict-tolerant inserts, exclusive claims,
advisory locks and notifications.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from django_durable.models import RunStatus, StepOutput, WorkflowRun

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "django_durable"
"""Channel on which enqueues wake idle workers."""
SCHEDULE_CHANNEL = "django_durable_schedules"
"""Channel on which schedule changes wake idle schedulers."""


def is_postgresql(using: str) -> bool:
    return connections[using].vendor == "postgresql"


_sql_cache: dict[tuple[str, str], str] = {}


def _sql(connection: BaseDatabaseWrapper, key: str) -> str:
    """The SQL text ``key`` for this connection's vendor, built once."""
    cached = _sql_cache.get((connection.vendor, key))
    if cached is None:
        cached = _sql_cache[(connection.vendor, key)] = _BUILDERS[key](connection.ops.quote_name)
    return cached


def _insert_run_sql(q: Callable[[str], str]) -> str:
    columns = [str(field.column) for field in WorkflowRun._meta.concrete_fields]
    return (
        f"INSERT INTO {q(WorkflowRun._meta.db_table)} ({', '.join(map(q, columns))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )


def _finish_run_sql(q: Callable[[str], str]) -> str:
    return (
        f"UPDATE {q(WorkflowRun._meta.db_table)} SET {q('status')} = %s, {q('output')} = %s, "  # noqa: S608
        f"{q('error')} = %s, {q('completed_at')} = %s, {q('updated_at')} = %s "
        f"WHERE {q('workflow_id')} = %s AND {q('status')} = %s"
    )


STEP_COLUMNS = (
    "workflow_id",
    "step_number",
    "step_name",
    "output",
    "error",
    "child_workflow_id",
    "started_at",
    "completed_at",
)


def _insert_step_sql(q: Callable[[str], str]) -> str:
    # Identifiers come from model metadata (quoted); every value is a parameter.
    return (
        f"INSERT INTO {q(StepOutput._meta.db_table)} ({', '.join(map(q, STEP_COLUMNS))}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(STEP_COLUMNS))} WHERE EXISTS ("
        f"SELECT 1 FROM {q(WorkflowRun._meta.db_table)} "
        f"WHERE {q('workflow_id')} = %s AND {q('status')} = %s)"
    )


def _select_run_sql(q: Callable[[str], str]) -> str:
    columns = [str(field.column) for field in WorkflowRun._meta.concrete_fields]
    return (
        f"SELECT {', '.join(map(q, columns))} FROM {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"WHERE {q('workflow_id')} = %s"
    )


RECORDED_COLUMNS = ("step_number", "step_name", "output", "error", "child_workflow_id")


def _select_steps_sql(q: Callable[[str], str]) -> str:
    return (
        f"SELECT {', '.join(map(q, RECORDED_COLUMNS))} "  # noqa: S608
        f"FROM {q(StepOutput._meta.db_table)} WHERE {q('workflow_id')} = %s"
    )


def _literal(status: RunStatus) -> str:
    """A status as an SQL literal. Written into the claim's text rather than passed as a
    parameter, so that a prepared statement's generic plan can still use the partial queue
    index (whose condition names the statuses); the values are this module's constants."""
    return f"'{status.value}'"


def _names_match(q: Callable[[str], str], column: str, postgresql: bool) -> str:
    """``column`` is one of a list given as one parameter: a PostgreSQL array, or a JSON
    array on SQLite (``json_each``), so the text does not depend on the list's length."""
    if postgresql:
        return f"{q(column)} = ANY(%s)"
    return f"{q(column)} IN (SELECT value FROM json_each(%s))"  # noqa: S608


def _claim_select_sql(q: Callable[[str], str], postgresql: bool) -> str:
    # The order is the partial queue index's: priority, then the due time.
    return (
        f"SELECT {q('workflow_id')}, {q('name')} FROM {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"WHERE {q('queue_name')} = %s AND {q('status')} = {_literal(RunStatus.ENQUEUED)} "
        f"AND ({q('run_after')} IS NULL OR {q('run_after')} <= %s) "
        f"AND {_names_match(q, 'name', postgresql)} "
        f"ORDER BY {q('priority')}, COALESCE({q('run_after')}, {q('created_at')}), "
        f"{q('workflow_id')} LIMIT %s" + (" FOR UPDATE SKIP LOCKED" if postgresql else "")
    )


def _claim_update_sql(q: Callable[[str], str], postgresql: bool) -> str:
    return (
        f"UPDATE {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"SET {q('status')} = {_literal(RunStatus.PENDING)}, "
        f"{q('executor_id')} = %s, {q('started_at')} = %s, {q('updated_at')} = %s "
        f"WHERE {_names_match(q, 'workflow_id', postgresql)} "
        # SQLite would otherwise read the status index (every enqueued run) rather than
        # look the taken ids up by primary key: the unary + keeps it off that index.
        f"AND {'' if postgresql else '+'}{q('status')} = {_literal(RunStatus.ENQUEUED)}"
    )


_BUILDERS: dict[str, Callable[[Callable[[str], str]], str]] = {
    "claim_select/postgresql": lambda q: _claim_select_sql(q, postgresql=True),
    "claim_select/sqlite": lambda q: _claim_select_sql(q, postgresql=False),
    "claim_update/postgresql": lambda q: _claim_update_sql(q, postgresql=True),
    "claim_update/sqlite": lambda q: _claim_update_sql(q, postgresql=False),
    "insert_run": _insert_run_sql,
    "finish_run": _finish_run_sql,
    "insert_step": _insert_step_sql,
    "select_run": _select_run_sql,
    "select_steps": _select_steps_sql,
}

_run_converters: dict[str, list[tuple[Any, list[Any]]]] = {}


def _converters(connection: BaseDatabaseWrapper) -> list[tuple[Any, list[Any]]]:
    """Per run column: the expression and the converters Django's compiler would apply."""
    cached = _run_converters.get(connection.vendor)
    if cached is None:
        cached = []
        for field in WorkflowRun._meta.concrete_fields:
            col = field.get_col(WorkflowRun._meta.db_table)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            cached.append((col, converters))
        _run_converters[connection.vendor] = cached
    return cached


def select_run(using: str, workflow_id: str) -> WorkflowRun | None:
    """Load one run by id with a prebuilt SELECT (the hot path of every execution)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection, "select_run"), [workflow_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for value, (col, converters) in zip(row, _converters(connection), strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        values.append(value)
    names = [field.attname for field in WorkflowRun._meta.concrete_fields]
    return WorkflowRun.from_db(using, names, values)


def select_steps(using: str, workflow_id: str) -> list[tuple[Any, ...]]:
    """The recorded steps of a run as ``RECORDED_COLUMNS`` tuples, in no particular order."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(_sql(connection, "select_steps"), [workflow_id])
        return list(cursor.fetchall())


def claim_runs(
    using: str,
    queue_name: str,
    workflow_names: list[str],
    now: datetime,
    limit: int,
    executor_id: str,
) -> list[tuple[str, str]]:
    """Move up to ``limit`` due ``ENQUEUED`` runs of ``queue_name`` (of these workflows) to
    ``PENDING`` on ``executor_id``; their ``(workflow_id, name)`` pairs, in claim order.

    Two prebuilt statements inside the caller's transaction: a SELECT (``FOR UPDATE SKIP
    LOCKED`` on PostgreSQL, where other claimers pass over the rows it takes) and an UPDATE.
    """
    connection = connections[using]
    postgresql = connection.vendor == "postgresql"
    suffix = "postgresql" if postgresql else "sqlite"

    def many(values: list[str]) -> Any:
        return values if postgresql else json.dumps(values)

    stamp = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        select = _sql(connection, f"claim_select/{suffix}")
        cursor.execute(select, [queue_name, stamp, many(workflow_names), limit])
        taken = [(str(wid), str(name)) for wid, name in cursor.fetchall()]
        if taken:
            update = _sql(connection, f"claim_update/{suffix}")
            ids = [wid for wid, _ in taken]
            cursor.execute(update, [executor_id, stamp, stamp, many(ids)])
    return taken


def _execute(connection: BaseDatabaseWrapper, sql: str, params: list[Any], savepoint: bool) -> int:
    """Run one write; inside an open transaction, in a savepoint when ``savepoint``."""

    def run() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)

    if savepoint and connection.in_atomic_block:
        with transaction.atomic(using=connection.alias):
            return run()
    return run()


def insert_run(run: WorkflowRun, using: str) -> bool:
    """INSERT a run row; ``False`` instead of an error when its id already exists.

    In autocommit this is the single INSERT. Inside an open transaction it is wrapped in a
    savepoint, so a conflict does not break the caller's transaction.
    """
    connection = connections[using]
    params = [
        field.get_db_prep_save(getattr(run, field.attname), connection)
        for field in WorkflowRun._meta.concrete_fields
    ]
    try:
        _execute(connection, _sql(connection, "insert_run"), params, savepoint=True)
    except IntegrityError:
        return False
    run._state.adding = False
    run._state.db = using
    return True


def finish_run(
    using: str, workflow_id: str, status: str, output: str | None, error: str | None, now: datetime
) -> bool:
    """Record a ``PENDING`` run's outcome (one UPDATE); ``False`` if it was not pending."""
    connection = connections[using]
    stamp = connection.ops.adapt_datetimefield_value(now)
    params = [status, output, error, stamp, stamp, workflow_id, RunStatus.PENDING.value]
    return _execute(connection, _sql(connection, "finish_run"), params, savepoint=False) == 1


def insert_step_if_running(
    using: str,
    *,
    workflow_id: str,
    step_number: int,
    step_name: str,
    output: str | None,
    error: str | None,
    child_workflow_id: str | None,
    started_at: datetime | None,
    completed_at: datetime,
    savepoint: bool = True,
) -> bool:
    """Record a step in one statement, only while its run is still ``PENDING``.

    ``False`` means the run was cancelled or finished elsewhere (nothing was written).
    Raises ``IntegrityError`` when the step was already recorded by another executor.
    Inside an open transaction the INSERT runs in a savepoint unless ``savepoint`` is
    false (a ``@transaction`` step wants a conflict to roll back its whole body).
    """
    connection = connections[using]
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = [
        workflow_id,
        step_number,
        step_name,
        output,
        error,
        child_workflow_id,
        adapt(started_at),
        adapt(completed_at),
        workflow_id,
        RunStatus.PENDING.value,
    ]
    return _execute(connection, _sql(connection, "insert_step"), params, savepoint) == 1


@contextmanager
def exclusive_transaction(using: str) -> Iterator[None]:
    """A transaction that holds the write lock from its start.

    On SQLite it begins with ``BEGIN IMMEDIATE`` whatever the database's
    ``transaction_mode``, so two claimers never both read and then fail to write. On
    PostgreSQL it is an ordinary transaction (row locks and advisory locks do the rest).
    """
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return
    connection.ensure_connection()
    previous = connection.transaction_mode  # type: ignore[attr-defined]
    connection.transaction_mode = "IMMEDIATE"  # type: ignore[attr-defined]
    try:
        with transaction.atomic(using=using):
            connection.transaction_mode = previous  # type: ignore[attr-defined]
            yield
    finally:
        connection.transaction_mode = previous  # type: ignore[attr-defined]


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name."""
    high = zlib.crc32(b"django_durable")
    low = zlib.crc32(name.encode())
    key = (high << 32) | low
    return key - (1 << 64) if key >= (1 << 63) else key


def advisory_xact_lock(using: str, name: str) -> None:
    """Serialise transactions on ``name`` until commit (PostgreSQL; SQLite is already serial)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_key(name)])


def notify(using: str, payload: str, channel: str = NOTIFY_CHANNEL) -> None:
    """Wake listeners of ``channel`` when the current transaction commits (PostgreSQL)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [channel, payload])


def listen(using: str, channel: str, wake: threading.Event, stopping: threading.Event) -> None:
    """Set ``wake`` on every notification of ``channel`` until ``stopping`` is set.

    PostgreSQL only; runs on its own connection and reconnects after losing it.
    """
    while not stopping.is_set():
        wrapper = connections.create_connection(using)
        try:
            wrapper.ensure_connection()
            raw = wrapper.connection
            raw.execute(f"LISTEN {channel}")
            while not stopping.is_set():
                for _ in raw.notifies(timeout=1.0):
                    wake.set()
        except Exception as exc:
            logger.debug("LISTEN %s connection lost (%s); reconnecting", channel, exc)
            stopping.wait(1.0)
        finally:
            try:
                wrapper.close()
            except Exception:
                logger.debug("Closing the LISTEN connection failed", exc_info=True)
