"""The claim of queued runs as SQL built once per database vendor (see ``models.sql``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_durable.db import cached_sql, quote
from django_durable.models.runs import RunStatus, WorkflowRun
from django_durable.models.sql import row_instance, run_columns, status_literal
from django_durable.models.steps import StepOutput


def _names_match(q: Any, column: str, postgresql: bool) -> str:
    """``column`` is one of a list given as one parameter: a PostgreSQL array, or a JSON
    array on SQLite (``json_each``), so the text does not depend on the list's length."""
    if postgresql:
        return f"{q(column)} = ANY(%s)"
    return f"{q(column)} IN (SELECT value FROM json_each(%s))"  # noqa: S608


def _claimable_sql(connection: BaseDatabaseWrapper, columns: str, variant: str = "") -> str:
    """The due ``ENQUEUED`` runs of a queue (of the given workflows), in claim order: the
    partial queue index's order, priority, then the due time. ``variant``: "v" filters on a
    version, "p" on a partition key, "n" on having none."""
    q = quote(connection)
    postgresql = connection.vendor == "postgresql"
    version = q("application_version")
    return (
        f"SELECT {columns} FROM {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"WHERE {q('queue_name')} = %s AND {q('status')} = {status_literal(RunStatus.ENQUEUED)} "
        f"AND ({q('run_after')} IS NULL OR {q('run_after')} <= %s) "
        f"AND {_names_match(q, 'name', postgresql)} "
        + (f"AND ({version} IS NULL OR {version} = %s) " if "v" in variant else "")
        + (f"AND {q('queue_partition_key')} = %s " if "p" in variant else "")
        + (f"AND {q('queue_partition_key')} IS NULL " if "n" in variant else "")
        # Exactly the index's order (no tie-breaker past it), so the claim reads the index
        # in order instead of sorting the whole backlog.
        + f"ORDER BY {q('priority')}, COALESCE({q('run_after')}, {q('created_at')}) "
        f"LIMIT %s" + (" FOR UPDATE SKIP LOCKED" if postgresql else "")
    )


def _has_steps(connection: BaseDatabaseWrapper, table: str) -> str:
    """Whether the run has recorded steps (a fresh run has none: nothing to load)."""
    q = quote(connection)
    return (
        f"EXISTS (SELECT 1 FROM {q(StepOutput._meta.db_table)} "  # noqa: S608
        f"WHERE {q(StepOutput._meta.db_table)}.{q('workflow_id')} = {table}.{q('workflow_id')})"
    )


def _claim_pg_sql(connection: BaseDatabaseWrapper, variant: str) -> str:
    # The pick is a CTE, run exactly once: a LIMIT ... SKIP LOCKED subquery in the UPDATE's
    # WHERE may be evaluated again and take more rows than asked for.
    q = quote(connection)
    table = q(WorkflowRun._meta.db_table)
    returned = ", ".join(f"{table}.{q(column)}" for column in run_columns())
    returned += f", {_has_steps(connection, table)}"
    return (
        f"WITH picked AS ({_claimable_sql(connection, q('workflow_id'), variant)}) "  # noqa: S608
        f"UPDATE {table} SET {q('status')} = {status_literal(RunStatus.PENDING)}, "
        f"{q('executor_id')} = %s, {q('started_at')} = %s, {q('updated_at')} = %s, "
        f"{q('application_version')} = COALESCE({q('application_version')}, %s) "
        f"FROM picked WHERE {table}.{q('workflow_id')} = picked.{q('workflow_id')} "
        f"RETURNING {returned}"
    )


def _claim_update_sqlite_sql(connection: BaseDatabaseWrapper) -> str:
    q = quote(connection)
    return (
        f"UPDATE {q(WorkflowRun._meta.db_table)} "  # noqa: S608
        f"SET {q('status')} = {status_literal(RunStatus.PENDING)}, "
        f"{q('executor_id')} = %s, {q('started_at')} = %s, {q('updated_at')} = %s, "
        f"{q('application_version')} = COALESCE({q('application_version')}, %s) "
        f"WHERE {_names_match(q, 'workflow_id', False)} "
        # SQLite would otherwise read the status index (every enqueued run) rather than
        # look the taken ids up by primary key: the unary + keeps it off that index.
        f"AND +{q('status')} = {status_literal(RunStatus.ENQUEUED)}"
    )


def _claimed(connection: BaseDatabaseWrapper, using: str, row: Sequence[Any]) -> WorkflowRun:
    run = row_instance(connection, using, row[:-1])
    run.has_steps = bool(row[-1])  # type: ignore[attr-defined]
    return run


def claim_runs(
    using: str,
    queue_name: str,
    workflow_names: list[str],
    now: datetime,
    limit: int,
    executor_id: str,
    *,
    application_version: str | None = None,
    partition: tuple[str | None] | None = None,
) -> list[WorkflowRun]:
    """Move up to ``limit`` due ``ENQUEUED`` runs of ``queue_name`` (of these workflows) to
    ``PENDING`` on ``executor_id`` (an unversioned run records ``application_version``);
    the claimed rows in claim order, each with ``has_steps`` (whether it has recorded steps
    to load before it executes). Only unversioned runs and runs of
    ``application_version``, of ``partition`` if given (``(key,)``, or ``(None,)``).
    PostgreSQL: one ``WITH picked AS (... SKIP LOCKED) UPDATE ... RETURNING``; SQLite: a
    SELECT and an UPDATE in the caller's ``IMMEDIATE`` transaction."""
    connection = connections[using]
    stamp = connection.ops.adapt_datetimefield_value(now)
    filters = [value for value in (application_version, *(partition or ())) if value is not None]
    variant = ("v" if application_version is not None else "") + (
        "" if partition is None else "n" if partition[0] is None else "p"
    )
    if connection.vendor == "postgresql":
        sql = cached_sql(connection, f"claim{variant}", lambda: _claim_pg_sql(connection, variant))
        with connection.cursor() as cursor:
            head = [queue_name, stamp, workflow_names, *filters, limit]
            cursor.execute(sql, [*head, executor_id, stamp, stamp, application_version])
            claimed = [_claimed(connection, using, row) for row in cursor.fetchall()]
        claimed.sort(key=lambda run: (run.priority, run.run_after or run.created_at, run.pk))
        return claimed
    q = quote(connection)
    table = q(WorkflowRun._meta.db_table)
    select = cached_sql(
        connection,
        f"claimable{variant}",
        lambda: _claimable_sql(
            connection,
            ", ".join(map(q, run_columns())) + f", {_has_steps(connection, table)}",
            variant,
        ),
    )
    with connection.cursor() as cursor:
        names = json.dumps(workflow_names)
        cursor.execute(select, [queue_name, stamp, names, *filters, limit])
        claimed = [_claimed(connection, using, row) for row in cursor.fetchall()]
        if claimed:
            update = cached_sql(
                connection, "claim_update", lambda: _claim_update_sqlite_sql(connection)
            )
            ids = json.dumps([run.pk for run in claimed])
            cursor.execute(update, [executor_id, stamp, stamp, application_version, ids])
    for run in claimed:
        run.status, run.executor_id = RunStatus.PENDING, executor_id
        run.started_at = run.updated_at = now
        run.application_version = run.application_version or application_version
    return claimed
