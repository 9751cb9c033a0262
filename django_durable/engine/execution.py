"""Executing one run: its body with its recorded steps, then its outcome. One core, a sync
and an async driver; a stored run is executed by id, replaying its checkpoints.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import close_old_connections

from django_durable import (
    conf,
    context,
    error_records,
    registry,
    serialization,
    signals,
    tracing,
)
from django_durable.context import RecordedStep, RunContext
from django_durable.engine import checkpoints, events, parking, runs, timeouts
from django_durable.engine.active import ActiveRun
from django_durable.engine.runtime import Runtime
from django_durable.exceptions import (
    ExecutionInterrupted,
    SerializationError,
    WorkflowCancelled,
    WorkflowNotRegistered,
)
from django_durable.models import RunStatus, WaitingFor, WorkflowRun

logger = logging.getLogger(__name__)


def begin(
    row: WorkflowRun,
    inv: runs.Invocation,
    holder: ActiveRun,
    recorded: dict[int, RecordedStep],
    runtime: Runtime,
    parkable: bool = False,
) -> RunContext:
    """The context of a held ``PENDING`` run about to execute here (``parkable``: a worker
    executes it, so a long wait parks it); cancelled by the runtime at its deadline."""
    run = holder.run = RunContext(
        workflow_id=row.pk,
        name=row.name,
        executor_id=runtime.executor_id,
        runtime=runtime,
        recorded=recorded,
        is_async=inv.info.is_async,
        hold_seconds=float(conf.get("CHECKPOINT_HOLD")),
        deadline=row.deadline,
        parkable=parkable,
    )
    runtime.started_running()
    timeouts.watch(run)
    return run


def started(row: WorkflowRun, run: RunContext) -> None:
    """Send ``workflow_started`` (not again when a parked run resumes)."""
    if row.waiting_for not in (None, WaitingFor.DEBOUNCE):
        return
    if signals.workflow_started.has_listeners(WorkflowRun):
        events.started(row, run.executor_id, conf.database_alias())


def succeeded(row: WorkflowRun, run: RunContext, result: Any) -> None:
    """Record the run's result (with its held checkpoints, in one commit)."""
    try:
        output = serialization.dumps(result)
    except SerializationError as exc:
        checkpoints.finish(run, status=RunStatus.ERROR, error=error_records.encode_exception(exc))
        _finished(row, RunStatus.ERROR)
        raise
    checkpoints.finish(run, status=RunStatus.SUCCESS, output=output)
    _finished(row, RunStatus.SUCCESS)


def failed(row: WorkflowRun, run: RunContext, exc: BaseException) -> None:
    checkpoints.finish(run, status=RunStatus.ERROR, error=error_records.encode_exception(exc))
    _finished(row, RunStatus.ERROR)


def _finished(row: WorkflowRun, status: str) -> None:
    row.status = status
    events.finished(row, status, conf.database_alias())
    logger.info(
        "Workflow %s (%s) finished: %s",
        row.pk,
        row.name,
        status,
        extra={"action": "workflow_finished", "workflow_id": row.pk, "status": status},
    )


def execute(
    row: WorkflowRun,
    inv: runs.Invocation,
    holder: ActiveRun,
    recorded: dict[int, RecordedStep],
    runtime: Runtime,
    parkable: bool = False,
) -> Any:
    """Run the body of a held ``PENDING`` run in this thread and record its outcome
    (raises ``Parked`` when a ``parkable`` run parked: it is back on its queue)."""
    run = begin(row, inv, holder, recorded, runtime, parkable)
    try:
        with _span(row, run) as span:
            started(row, run)
            with context.running(run):
                try:
                    result = inv.call()
                except WorkflowCancelled as exc:
                    tracing.set_status(span, RunStatus.CANCELLED, exc)
                    checkpoints.keep_after_cancel(run)
                    raise
                except Exception as exc:
                    tracing.set_status(span, RunStatus.ERROR, exc)
                    failed(row, run, exc)
                    raise
            succeeded(row, run, result)
            tracing.set_status(span, row.status)
        return result
    finally:
        run.finished = True


async def aexecute(
    row: WorkflowRun,
    inv: runs.Invocation,
    holder: ActiveRun,
    recorded: dict[int, RecordedStep],
    runtime: Runtime,
    parkable: bool = False,
) -> Any:
    """``execute`` for ``async def`` workflows, on the caller's event loop."""
    run = begin(row, inv, holder, recorded, runtime, parkable)
    try:
        with _span(row, run) as span:
            if signals.workflow_started.has_listeners(WorkflowRun):
                await runtime.run_sync(lambda: started(row, run))
            with context.running(run):
                try:
                    result = await inv.call()
                except WorkflowCancelled as exc:
                    tracing.set_status(span, RunStatus.CANCELLED, exc)
                    await runtime.run_sync(lambda: checkpoints.keep_after_cancel(run))
                    raise
                except Exception as exc:
                    error = exc
                    tracing.set_status(span, RunStatus.ERROR, exc)
                    await runtime.run_sync(lambda: failed(row, run, error))
                    raise
            await runtime.run_sync(lambda: succeeded(row, run, result))
            tracing.set_status(span, row.status)
        return result
    finally:
        run.finished = True


def _span(row: WorkflowRun, run: RunContext) -> Any:
    return tracing.run_span(
        workflow_id=row.pk,
        name=row.name,
        trace_context=row.trace_context,
        executor_id=run.executor_id,
        queue_name=row.queue_name,
        recovery_attempts=row.recovery_attempts,
    )


# ---------------------------------------------------------------- stored runs


def resumable(row: WorkflowRun, runtime: Runtime) -> bool:
    """Whether ``runtime`` may execute ``row`` (``PENDING`` and assigned to it)."""
    return row.status == RunStatus.PENDING and row.executor_id == runtime.executor_id


def prepare(row: WorkflowRun, runtime: Runtime) -> runs.Invocation | None:
    """The call of a stored run, or ``None`` when it cannot run here (it was dealt with:
    ended ``ERROR`` when no process could run it, left alone when another may)."""
    if not row.pk:
        fail_unrunnable(row, "it has an empty workflow id")
        return None
    try:
        return runs.invocation_of(row)
    except runs.Unrunnable as exc:
        fail_unrunnable(row, str(exc))
        return None
    except WorkflowNotRegistered as exc:
        give_back(row, str(exc))
        return None


def give_back(row: WorkflowRun, reason: str) -> None:
    """Put a run this process cannot execute (its workflow is unknown here) back on its
    queue for a process that can; counted as a recovery attempt, so it is bounded."""
    queue_name = row.queue_name or registry.INTERNAL_QUEUE_NAME
    if row.requeue_orphan(from_executor=row.executor_id, queue_name=queue_name):
        logger.warning(
            "Workflow %s cannot run here (%s); put back on queue %s",
            row.pk,
            reason,
            queue_name,
            extra={"action": "run_given_back", "workflow_id": row.pk},
        )


def fail_unrunnable(row: WorkflowRun, reason: str) -> None:
    error = runs.Unrunnable(f"Workflow run {row.pk!r} ({row.name}) cannot be executed: {reason}")
    if row.fail_unrunnable(error_records.encode_exception(error)):
        events.finished(row, RunStatus.ERROR, conf.database_alias())
        logger.error(
            "%s; marked ERROR (resume it once the cause is fixed)",
            error,
            extra={"action": "workflow_unrunnable", "workflow_id": row.pk},
        )


def load(workflow_id: str, runtime: Runtime, row: WorkflowRun | None = None) -> Any:
    """``(row, invocation, recorded steps)`` of a stored run this runtime may execute, or
    ``None``. ``row`` is the run as just claimed, if it was."""
    with checkpoints.interruptible("loading a run"):
        if row is None:
            row = runs.fetch(workflow_id)
        if not resumable(row, runtime):
            return None
        inv = prepare(row, runtime)
        if inv is None:
            return None
        timeouts.start(row)
        if row.deadline is not None and timeouts.passed(row.deadline):
            timeouts.expire(row.pk, row.deadline)
            return None
        parking.resumed(row)
        # A run just claimed says whether it has steps: a fresh one reads nothing more.
        recorded = runs.load_steps(workflow_id) if getattr(row, "has_steps", True) else {}
    logger.info(
        "Executing workflow %s (%s) with %d recorded steps",
        workflow_id,
        row.name,
        len(recorded),
        extra={"action": "workflow_executing", "workflow_id": workflow_id},
    )
    return row, inv, recorded


def execute_stored(
    workflow_id: str,
    runtime: Runtime,
    row: WorkflowRun | None = None,
    holder: ActiveRun | None = None,
) -> None:
    """Execute a stored run assigned to ``runtime`` in this thread (an ``async def`` one on
    the runtime's event loop), replaying its recorded steps. ``row``: the run as just
    claimed; ``holder``: the run is already held for this execution."""
    holder = holder or runtime.hold(workflow_id)
    try:
        loaded = load(workflow_id, runtime, row)
        if loaded is None:
            return
        row, inv, recorded = loaded
        parkable = row.queue_name is not None  # claimed from a queue by a worker
        if inv.info.is_async:
            runtime.submit_coroutine(
                aexecute(row, inv, holder, recorded, runtime, parkable)
            ).result()
        else:
            execute(row, inv, holder, recorded, runtime, parkable)
    except parking.Parked:
        pass  # back on its queue; a worker resumes it when it is due
    finally:
        runtime.release(workflow_id, holder)


async def aexecute_stored(
    workflow_id: str, runtime: Runtime, row: WorkflowRun | None = None
) -> None:
    """``execute_stored`` for ``async def`` workflows, on the caller's event loop."""
    holder = await runtime.hold_async(workflow_id)
    try:
        loaded = await runtime.run_sync(lambda: load(workflow_id, runtime, row))
        if loaded is None:
            return
        row_, inv, recorded = loaded
        parkable = row_.queue_name is not None  # claimed from a queue by a worker
        if not inv.info.is_async:
            await runtime.run_sync(lambda: execute(row_, inv, holder, recorded, runtime, parkable))
        else:
            await aexecute(row_, inv, holder, recorded, runtime, parkable)
    except parking.Parked:
        pass  # back on its queue; a worker resumes it when it is due
    finally:
        runtime.release(workflow_id, holder)


def log_end(workflow_id: str, exc: BaseException) -> None:
    """Log how a run executed off the caller's thread ended; its outcome is on its row."""
    if isinstance(exc, WorkflowCancelled):
        logger.info(
            "Workflow %s was cancelled",
            workflow_id,
            extra={"action": "workflow_cancelled", "workflow_id": workflow_id},
        )
    elif isinstance(exc, ExecutionInterrupted):
        logger.warning(
            "Workflow %s was interrupted (%s); it stays PENDING and resumes from its checkpoints",
            workflow_id,
            exc,
            extra={"action": "workflow_interrupted", "workflow_id": workflow_id},
        )
    else:
        logger.warning(
            "Workflow %s failed",
            workflow_id,
            exc_info=exc,
            extra={"action": "workflow_failed", "workflow_id": workflow_id},
        )


def in_background(workflow_id: str, runtime: Runtime, holder: ActiveRun | None = None) -> None:
    """Execute a stored run on a background thread of ``runtime``; if the database is lost
    meanwhile, it is retried from its checkpoints until the runtime stops. ``holder``: the
    run is already held for this execution (by ``start_workflow``)."""

    handed_over = [holder] if holder is not None else []

    def attempt() -> None:
        close_old_connections()
        try:
            execute_stored(workflow_id, runtime, holder=handed_over.pop() if handed_over else None)
        finally:
            close_old_connections()

    def target() -> None:
        thread = threading.current_thread()
        name, thread.name = thread.name, f"durable-{workflow_id}"
        try:
            runtime.retry_interrupted(attempt, f"Workflow {workflow_id}")
        except Exception as exc:
            log_end(workflow_id, exc)
        finally:
            thread.name = name

    runtime.submit(target)
