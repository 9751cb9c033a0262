"""The hot paths of runs and steps as SQL built once per database vendor.

Every execution writes its run row, one checkpoint per step and its outcome; every worker
claims. Going through the ORM's compiler for each of those costs more client time than
the statements themselves, so these are prebuilt from the models' metadata (identifiers
quoted, every value a parameter) and executed on Django's connection.

Checkpoints and outcomes are *fenced*: they are written only while the run is ``PENDING``
on the executor writing them, so a process that lost its run (cancelled, or taken over by
another executor after its heartbeat went stale) can no longer record anything on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from django_durable.context import Checkpoint
from django_durable.db import cached_sql, exclusive_transaction, execute_write, quote
from django_durable.models.runs import RunStatus, WorkflowRun
from django_durable.models.steps import StepOutput

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
RECORDED_COLUMNS = ("step_number", "step_name", "output", "error", "child_workflow_id")


def run_columns() -> list[str]:
    return [str(field.column) for field in WorkflowRun._meta.concrete_fields]


def status_literal(status: RunStatus) -> str:
    """A status as an SQL literal. Written into the text rather than passed as a parameter,
    so that a prepared statement's generic plan can still use the partial indexes (whose
    conditions name the statuses); the values are this module's constants."""
    return f"'{status.value}'"


def _fence(connection: BaseDatabaseWrapper, status: RunStatus = RunStatus.PENDING) -> str:
    """``EXISTS`` the run, in ``status`` on the given executor (parameters: id, executor)."""
    q = quote(connection)
    return (
        f"EXISTS (SELECT 1 FROM {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"WHERE {q('workflow_id')} = %s AND {q('status')} = {status_literal(status)} "
        f"AND {q('executor_id')} = %s)"
    )


def _insert_step_sql(
    connection: BaseDatabaseWrapper, status: RunStatus = RunStatus.PENDING
) -> str:
    q = quote(connection)
    return (
        f"INSERT INTO {q(StepOutput._meta.db_table)} ({', '.join(map(q, STEP_COLUMNS))}) "
        f"SELECT {', '.join(['%s'] * len(STEP_COLUMNS))} WHERE {_fence(connection, status)}"
    )


def _finish_sql(connection: BaseDatabaseWrapper) -> str:
    q = quote(connection)
    return (
        f"UPDATE {q(WorkflowRun._meta.db_table)} SET {q('status')} = %s, {q('output')} = %s, "  # noqa: S608
        f"{q('error')} = %s, {q('completed_at')} = %s, {q('updated_at')} = %s "
        f"WHERE {q('workflow_id')} = %s AND {q('status')} = {status_literal(RunStatus.PENDING)} "
        f"AND {q('executor_id')} = %s"
    )


def _step_params(
    connection: BaseDatabaseWrapper, workflow_id: str, executor_id: str, cp: Checkpoint
) -> list[Any]:
    adapt = connection.ops.adapt_datetimefield_value
    return [
        workflow_id,
        cp.step_number,
        cp.step_name,
        cp.output,
        cp.error,
        cp.child_workflow_id,
        adapt(cp.started_at),
        adapt(cp.completed_at or timezone.now()),
        workflow_id,
        executor_id,
    ]


def insert_steps(
    using: str,
    workflow_id: str,
    executor_id: str,
    checkpoints: Sequence[Checkpoint],
    *,
    savepoint: bool = True,
    cancelled: bool = False,
) -> bool:
    """Write checkpoints (one INSERT each; several in one transaction); ``False`` when the
    fence failed and nothing was written. A checkpoint that exists raises
    ``IntegrityError``. Inside an open transaction the INSERT runs in a savepoint unless
    ``savepoint`` is false (a ``@transaction`` step wants a conflict to roll it all back).

    ``cancelled`` fences on the run being ``CANCELLED`` (still on this executor) instead:
    the steps that ran before a cancel are recorded, so a resume does not run them again.
    """
    connection = connections[using]
    if cancelled:
        sql = cached_sql(
            connection,
            "insert_step_cancelled",
            lambda: _insert_step_sql(connection, RunStatus.CANCELLED),
        )
    else:
        sql = cached_sql(connection, "insert_step", lambda: _insert_step_sql(connection))
    if len(checkpoints) == 1:
        params = _step_params(connection, workflow_id, executor_id, checkpoints[0])
        return execute_write(connection, sql, params, savepoint=savepoint) == 1
    with exclusive_transaction(using):
        for cp in checkpoints:
            params = _step_params(connection, workflow_id, executor_id, cp)
            if execute_write(connection, sql, params) != 1:
                return False
    return True


def finish_run(
    using: str,
    workflow_id: str,
    executor_id: str,
    *,
    status: str,
    output: str | None,
    error: str | None,
    now: datetime,
    held: Sequence[Checkpoint] = (),
) -> bool:
    """Record a run's outcome, with the checkpoints still held, in one commit; ``False``
    when the fence failed (nothing written).

    On PostgreSQL a held checkpoint and the outcome are one statement (a data-modifying
    ``WITH``); on SQLite they share one ``IMMEDIATE`` transaction.
    """
    connection = connections[using]
    stamp = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = [status, output, error, stamp, stamp, workflow_id, executor_id]
    if not held:
        sql = cached_sql(connection, "finish_run", lambda: _finish_sql(connection))
        return execute_write(connection, sql, params) == 1
    if connection.vendor == "postgresql" and len(held) == 1:
        sql = cached_sql(
            connection,
            "finish_run_with_step",
            lambda: f"WITH held AS ({_insert_step_sql(connection)}) {_finish_sql(connection)}",
        )
        step = _step_params(connection, workflow_id, executor_id, held[0])
        return execute_write(connection, sql, [*step, *params]) == 1
    with exclusive_transaction(using):
        if not insert_steps(using, workflow_id, executor_id, held, savepoint=False):
            return False
        sql = cached_sql(connection, "finish_run", lambda: _finish_sql(connection))
        return execute_write(connection, sql, params) == 1


# ---------------------------------------------------------------- inserting runs


def _insert_run_sql(connection: BaseDatabaseWrapper, notify: bool) -> str:
    q = quote(connection)
    insert = (
        f"INSERT INTO {q(WorkflowRun._meta.db_table)} ({', '.join(map(q, run_columns()))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(run_columns()))}) ON CONFLICT DO NOTHING"
    )
    if notify:  # PostgreSQL: wake idle workers in the same statement (one round trip)
        return (
            f"WITH inserted AS ({insert} RETURNING 1) "  # noqa: S608
            f"SELECT pg_notify(%s, %s) FROM inserted"
        )
    return insert


def insert_run(run: WorkflowRun, using: str, *, notify_channel: str | None = None) -> bool:
    """INSERT a run row in one statement; ``False`` (nothing written) when a unique
    constraint holds it back: its id exists, or, for an enqueued run, another active run
    of its queue has its deduplication id.

    With ``notify_channel`` on PostgreSQL the same statement sends ``pg_notify`` with the
    run's queue name when the row was inserted, so an enqueue in autocommit is one round
    trip and one commit.
    """
    connection = connections[using]
    values = [
        field.get_db_prep_save(getattr(run, field.attname), connection)
        for field in WorkflowRun._meta.concrete_fields
    ]
    notify = notify_channel is not None and connection.vendor == "postgresql"
    key = "insert_run_notify" if notify else "insert_run"
    sql = cached_sql(connection, key, lambda: _insert_run_sql(connection, notify))
    with connection.cursor() as cursor:
        if notify:
            cursor.execute(sql, [*values, notify_channel, str(run.queue_name)])
            inserted = len(cursor.fetchall()) == 1
        else:
            cursor.execute(sql, values)
            inserted = cursor.rowcount == 1
    if inserted:
        run._state.adding = False
        run._state.db = using
    return inserted


# ---------------------------------------------------------------- reading runs and steps


_converters: dict[str, list[tuple[Any, list[Any]]]] = {}


def _row_converters(connection: BaseDatabaseWrapper) -> list[tuple[Any, list[Any]]]:
    """Per run column: the expression and the converters Django's compiler would apply."""
    cached = _converters.get(connection.vendor)
    if cached is None:
        cached = []
        for field in WorkflowRun._meta.concrete_fields:
            col = field.get_col(WorkflowRun._meta.db_table)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            cached.append((col, converters))
        _converters[connection.vendor] = cached
    return cached


def row_instance(connection: BaseDatabaseWrapper, using: str, row: Sequence[Any]) -> WorkflowRun:
    values = []
    for value, (col, converters) in zip(row, _row_converters(connection), strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        values.append(value)
    names = [field.attname for field in WorkflowRun._meta.concrete_fields]
    return WorkflowRun.from_db(using, names, values)


def _select_run_sql(connection: BaseDatabaseWrapper) -> str:
    q = quote(connection)
    return (
        f"SELECT {', '.join(map(q, run_columns()))} FROM {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"WHERE {q('workflow_id')} = %s"
    )


def select_run(using: str, workflow_id: str) -> WorkflowRun | None:
    """Load one run by id with a prebuilt SELECT (the hot path of every execution)."""
    connection = connections[using]
    sql = cached_sql(connection, "select_run", lambda: _select_run_sql(connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, [workflow_id])
        row = cursor.fetchone()
    return None if row is None else row_instance(connection, using, row)


def select_steps(using: str, workflow_id: str) -> list[tuple[Any, ...]]:
    """The recorded steps of a run as ``RECORDED_COLUMNS`` tuples, in no particular order."""
    connection = connections[using]
    q = quote(connection)
    sql = cached_sql(
        connection,
        "select_steps",
        lambda: (
            f"SELECT {', '.join(map(q, RECORDED_COLUMNS))} "  # noqa: S608
            f"FROM {q(StepOutput._meta.db_table)} WHERE {q('workflow_id')} = %s"
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workflow_id])
        return list(cursor.fetchall())
