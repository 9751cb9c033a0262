"""Database quirks, each in one small helper: conflict-tolerant inserts, exclusive claims,
advisory locks and notifications.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, models, transaction

from django_durable.models import RunStatus, StepOutput, WorkflowRun

NOTIFY_CHANNEL = "django_durable"


def is_postgresql(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def insert_unless_exists(obj: models.Model, using: str) -> bool:
    """INSERT ``obj``; ``False`` instead of an error when its unique key already exists.

    In autocommit this is the single INSERT. Inside an open transaction it is wrapped in a
    savepoint, so a conflict does not break the caller's transaction.
    """
    connection = connections[using]
    try:
        if connection.in_atomic_block:
            with transaction.atomic(using=using):
                obj.save(force_insert=True, using=using)
        else:
            obj.save(force_insert=True, using=using)
    except IntegrityError:
        return False
    return True


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
    step_table = connection.ops.quote_name(StepOutput._meta.db_table)
    run_table = connection.ops.quote_name(WorkflowRun._meta.db_table)
    q = connection.ops.quote_name
    columns = ", ".join(
        q(c)
        for c in (
            "workflow_id",
            "step_number",
            "step_name",
            "output",
            "error",
            "child_workflow_id",
            "started_at",
            "completed_at",
        )
    )
    params: list[Any] = [
        workflow_id,
        step_number,
        step_name,
        output,
        error,
        child_workflow_id,
        connection.ops.adapt_datetimefield_value(started_at),
        connection.ops.adapt_datetimefield_value(completed_at),
        workflow_id,
        RunStatus.PENDING.value,
    ]
    # Identifiers come from model metadata (quoted); every value is a parameter.
    sql = (
        f"INSERT INTO {step_table} ({columns}) "  # noqa: S608
        f"SELECT %s, %s, %s, %s, %s, %s, %s, %s WHERE EXISTS ("
        f"SELECT 1 FROM {run_table} WHERE {q('workflow_id')} = %s AND {q('status')} = %s)"
    )

    def run() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)

    if savepoint and connection.in_atomic_block:
        with transaction.atomic(using=using):
            return run() == 1
    return run() == 1


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


def notify(using: str, payload: str) -> None:
    """Wake listening workers when the current transaction commits (PostgreSQL only)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, payload])
