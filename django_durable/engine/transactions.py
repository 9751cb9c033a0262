"""``@transaction`` steps: the body and its checkpoint commit together, or not at all."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, IntegrityError, connections
from django.utils import timezone

from django_durable import conf, context, db, tracing
from django_durable.context import RunContext
from django_durable.engine import checkpoints, steps
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import ConfigurationError, ExecutionInterrupted, WorkflowCancelled

logger = logging.getLogger(__name__)

CONFLICT_RETRIES = 8
"""How often a transaction that hit a serialization failure or deadlock is tried again in
place (PostgreSQL) before that error becomes the step's outcome."""
CONFLICT_FIRST_PAUSE = 0.01
CONFLICT_MAX_PAUSE = 1.0


class _AlreadyRecorded(Exception):
    """Leaves a transaction whose checkpoint another execution wrote first."""


def _begin(using: str, isolation_level: str | None) -> None:
    connection = connections[using]
    if isolation_level and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation_level}")


def _plain(alias: str, isolation_level: str | None, body: Callable[[], Any]) -> Any:
    outermost = not connections[alias].in_atomic_block
    with db.exclusive_transaction(alias):
        if outermost:
            _begin(alias, isolation_level)
        return body()


def run_transaction(
    name: str,
    isolation_level: str | None,
    using: str | None,
    func: Callable[..., Any],
    args: Any,
    kwargs: Any,
) -> Any:
    """A call of a ``@transaction`` function: inside a workflow a step whose checkpoint
    is written in the body's transaction; elsewhere a plain call in ``atomic()``.

    On SQLite the transaction takes the write lock at its start (``BEGIN IMMEDIATE``), so
    a body that reads and then writes never fails with "database is locked".
    """
    alias = using or conf.database_alias()
    run = steps.durable_run()

    def body() -> Any:
        return func(*args, **kwargs)

    if run is None:
        if steps.in_event_loop():
            return runtimes.current().call_off_loop(lambda: _plain(alias, isolation_level, body))
        return _plain(alias, isolation_level, body)
    if alias != conf.database_alias():
        raise ConfigurationError(
            f"@transaction(using={alias!r}) inside a workflow must use the durable database "
            f"{conf.database_alias()!r}, so its checkpoint commits with its body."
        )
    number = run.next_number()
    if steps.in_event_loop():
        return steps.off_loop(run, lambda: _execute(run, number, name, isolation_level, body))
    return _execute(run, number, name, isolation_level, body)


def execute(run: RunContext, number: int, name: str, body: Callable[[], Any]) -> Any:
    """Step ``number`` of ``run`` whose ``body`` writes to the durable database: replayed
    if recorded, else the body and its checkpoint commit in one transaction."""
    return _execute(run, number, name, None, body)


def _execute(
    run: RunContext, number: int, name: str, isolation_level: str | None, body: Callable[[], Any]
) -> Any:
    recorded = run.replayed(number, name)
    if recorded is not None:
        return steps.replay(recorded)
    run.check_cancelled()
    steps.begin(run)
    with tracing.step_span(workflow_id=run.workflow_id, number=number, name=name) as span:
        try:
            result = _attempts(run, number, name, isolation_level, body, span)
        except BaseException as exc:
            tracing.set_status(span, "ERROR", exc)
            raise
        tracing.set_status(span, "SUCCESS")
        return result


def _attempts(
    run: RunContext,
    number: int,
    name: str,
    isolation_level: str | None,
    body: Callable[[], Any],
    span: Any,
) -> Any:
    alias = conf.database_alias()
    pause = CONFLICT_FIRST_PAUSE
    conflicts = 0
    started_at = None
    while True:
        started_at = started_at or timezone.now()
        tracing.set_attempts(span, conflicts + 1)
        try:
            result = _attempt(run, number, name, alias, isolation_level, body, started_at)
        except _AlreadyRecorded:
            checkpoints.abandoned(run)
            raise ExecutionInterrupted(
                f"Step {number} of workflow {run.workflow_id!r} was recorded by another "
                f"execution; stopping here so the run replays the recorded outcome."
            ) from None
        except (WorkflowCancelled, ExecutionInterrupted):
            checkpoints.abandoned(run)
            raise
        except DatabaseError as exc:
            kind = db.error_kind(exc, alias)
            if kind is db.ErrorKind.LOST:
                checkpoints.abandoned(run)
                raise ExecutionInterrupted(
                    f"Lost the database in transaction {name!r}: {exc}"
                ) from exc
            if kind is db.ErrorKind.CONFLICT and conflicts < CONFLICT_RETRIES:
                conflicts += 1
                logger.info(
                    "Transaction %s of workflow %s hit %s; trying again in %.2fs (%d of %d)",
                    name,
                    run.workflow_id,
                    type(exc.__cause__ or exc).__name__,
                    pause,
                    conflicts,
                    CONFLICT_RETRIES,
                    extra={"action": "transaction_retry", "workflow_id": run.workflow_id},
                )
                if run.cancel_event.wait(pause):
                    checkpoints.abandoned(run)
                    run.check_cancelled()
                pause = min(pause * 2, CONFLICT_MAX_PAUSE)
                continue
            steps.end(run, steps.error_checkpoint(number, name, exc, started_at))
            raise
        except Exception as exc:
            steps.end(run, steps.error_checkpoint(number, name, exc, started_at))
            raise
        except BaseException:
            checkpoints.abandoned(run)
            raise
        checkpoints.abandoned(run)  # counted as ended; its checkpoint is already written
        return result


def _attempt(
    run: RunContext,
    number: int,
    name: str,
    alias: str,
    isolation_level: str | None,
    body: Callable[[], Any],
    started_at: Any,
) -> Any:
    outermost = not connections[alias].in_atomic_block
    with context.in_step(number), db.exclusive_transaction(alias):
        if outermost:
            _begin(alias, isolation_level)
        result = body()
        checkpoint, problem = steps.result_checkpoint(number, name, result, started_at)
        if problem is not None:
            raise problem  # rolls the body back; recorded as the step's error
        try:
            checkpoints.write(run, [checkpoint], savepoint=False)
        except IntegrityError:
            raise _AlreadyRecorded from None
    checkpoints.committed(run, [checkpoint])
    return result
