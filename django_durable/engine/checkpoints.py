"""Writing a run's checkpoints and its outcome: the one rule of durability.

A step's checkpoint must be durable before the next step's body runs, not earlier. So the
checkpoint of a step that ends while no other step of its run is running is *held*: it is
written right before the run's next durable action (another step, a child, a sleep, a
recorded call), or in the same commit as the run's outcome. A workflow of N sequential
steps commits N + 1 times: its row, N - 1 checkpoints, and the last one with the outcome.
Steps that overlap (``asyncio.gather``) write at once, so each is durable as it ends.

Every write is fenced on the run being ``PENDING`` on this executor: a cancelled run, or
one another executor took over, records nothing more here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import IntegrityError, InterfaceError, OperationalError, connections
from django.utils import timezone

from django_durable import conf, signals
from django_durable.context import Checkpoint, RunContext
from django_durable.engine import events
from django_durable.exceptions import ExecutionInterrupted, WorkflowCancelled
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.models import sql as run_sql

logger = logging.getLogger(__name__)


@contextmanager
def interruptible(what: str = "running a workflow") -> Iterator[None]:
    """Turn a failure of the engine's own reads and writes into ``ExecutionInterrupted``:
    nothing is recorded as a failure, the run stays ``PENDING`` and resumes from its
    checkpoints. (A step's own database errors are the step's outcome instead.)"""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise ExecutionInterrupted(f"Lost the database while {what}: {exc}") from exc


def _lost(run: RunContext, checkpoints: Sequence[Checkpoint]) -> BaseException:
    """Why a fenced write wrote nothing: the run was cancelled, or is no longer ours.

    The checkpoints of steps that ran before a cancel are still recorded, so resuming the
    run does not run them again.
    """
    using = conf.database_alias()
    row = run_sql.select_run(using, run.workflow_id)
    if row is None or row.status == RunStatus.CANCELLED:
        run.cancel_event.set()
        if row is not None and row.executor_id == run.executor_id and checkpoints:
            try:
                run_sql.insert_steps(
                    using, run.workflow_id, run.executor_id, checkpoints, cancelled=True
                )
            except IntegrityError:
                pass  # recorded by a resumed execution meanwhile
        return WorkflowCancelled(f"Workflow {run.workflow_id!r} was cancelled.")
    return ExecutionInterrupted(
        f"Workflow {run.workflow_id!r} is no longer executed by {run.executor_id!r} "
        f"(it is {row.status} on {row.executor_id!r}); stopping here."
    )


def lost(run: RunContext) -> BaseException:
    """Why a fenced write of ``run`` (other than a checkpoint) wrote nothing."""
    return _lost(run, [])


def _recorded_elsewhere(run: RunContext, checkpoints: Sequence[Checkpoint]) -> bool:
    """Whether one of ``checkpoints`` exists already (the unique step number clashed)."""
    numbers = [cp.step_number for cp in checkpoints]
    return (
        StepOutput.objects.using(conf.database_alias())
        .filter(run_id=run.workflow_id, step_number__in=numbers)
        .exists()
    )


def write(run: RunContext, checkpoints: Sequence[Checkpoint], *, savepoint: bool = True) -> None:
    """Write ``checkpoints`` now (one commit), then tell whoever listens.

    Raises ``WorkflowCancelled`` if the run was cancelled, ``ExecutionInterrupted`` if the
    database is lost or the run was taken over (a checkpoint already recorded elsewhere
    raises ``IntegrityError`` only inside a ``@transaction``, to roll its body back).
    """
    using = conf.database_alias()
    try:
        with interruptible("recording a step"):
            written = run_sql.insert_steps(
                using, run.workflow_id, run.executor_id, checkpoints, savepoint=savepoint
            )
    except IntegrityError:
        if not savepoint or not _recorded_elsewhere(run, checkpoints):
            raise
        raise ExecutionInterrupted(
            f"A step of workflow {run.workflow_id!r} was recorded by another execution; "
            f"stopping here so the run replays the recorded outcome."
        ) from None
    if not written:
        raise _lost(run, checkpoints)
    if savepoint:  # a transaction step reports once its own transaction has committed
        committed(run, checkpoints)


def committed(run: RunContext, checkpoints: Sequence[Checkpoint]) -> None:
    """Checkpoints are durable: send ``step_completed`` and call the runtime's observers."""
    using = conf.database_alias()
    if signals.step_completed.has_listeners(WorkflowRun):
        for cp in checkpoints:
            duration = (
                (cp.completed_at - cp.started_at).total_seconds()
                if cp.started_at is not None and cp.completed_at is not None
                else None
            )
            events.step_completed(
                run.workflow_id,
                run.name,
                cp.step_number,
                cp.step_name,
                failed=cp.error is not None,
                using=using,
                duration=duration,
            )
    for observer in list(run.runtime.checkpoint_observers):
        for cp in checkpoints:
            observer(run, cp)


def _take_held(run: RunContext) -> list[Checkpoint]:
    """Take the held checkpoints (under ``run.lock``), once a late flush of them by the
    runtime's flusher has finished: nothing may overtake a checkpoint being written."""
    while run.flushing:
        run.flushed.wait()
    held, run.held = run.held, []
    return held


def flush(run: RunContext) -> None:
    """Write the held checkpoints: the run is about to do something that depends on them."""
    while True:
        with run.lock:
            held = _take_held(run)
        if not held:
            return
        write(run, held)


def flush_late(run: RunContext) -> None:
    """Called by the runtime's flusher: write checkpoints held longer than the hold time
    (the workflow's body is busy between steps). A failure leaves them held for the run's
    own next write, which raises it; a cancel is noticed at the run's next boundary."""
    with run.lock:
        run.flush_scheduled = False
        if run.flushing or not run.held or run.finished:
            return
        held, run.held, run.flushing = run.held, [], True
    try:
        write(run, held)
    except WorkflowCancelled:
        pass  # written as the steps of a cancelled run; the run sees its cancel event
    except BaseException:
        with run.lock:
            run.held[:0] = held
        logger.debug("Late flush of workflow %s failed", run.workflow_id, exc_info=True)
    finally:
        with run.lock:
            run.flushing = False
            run.flushed.notify_all()


def _holds(run: RunContext) -> bool:
    """Whether a checkpoint may be held: no observer wants it at once, holding is on, and
    the run does not execute inside an open transaction (where nothing commits before
    the caller's transaction does anyway)."""
    return (
        not run.runtime.checkpoint_observers
        and run.hold_seconds > 0
        and not connections[conf.database_alias()].in_atomic_block
    )


def starting(run: RunContext) -> list[Checkpoint]:
    """A step's body is about to run: what came before it must be durable first. The
    checkpoints to write before it may run (then ask again), or ``[]``: it is counted
    as running and may start."""
    with run.lock:
        held = _take_held(run)
        if held:
            return held
        run.in_flight += 1
        return []


def abandoned(run: RunContext) -> None:
    """A step's body ended without a checkpoint (the run was cancelled or interrupted)."""
    with run.lock:
        run.in_flight -= 1


def ending(run: RunContext, checkpoint: Checkpoint) -> list[Checkpoint]:
    """A step's body has ended: its checkpoint is held (``[]``), or, when another step of
    the run is still running (or holding is off), returned with the held ones to be
    written now. A held checkpoint is written by the runtime's flusher if the run does
    not write it itself within its hold time."""
    holds = _holds(run)
    with run.lock:
        run.in_flight -= 1
        if run.in_flight == 0 and holds:
            run.held.append(checkpoint)
            # One pending look by the flusher per run at a time: steps that follow each
            # other quickly do not wake it once per step.
            schedule, run.flush_scheduled = not run.flush_scheduled, True
        else:
            return [*_take_held(run), checkpoint]
    if schedule:
        run.runtime.flush_later(run, run.hold_seconds, flush_late)
    return []


def keep_after_cancel(run: RunContext) -> None:
    """The run was cancelled: record the checkpoints it still held (their steps ran), so
    resuming it does not run them again. Nothing is written if it moved on meanwhile."""
    with run.lock:
        held = _take_held(run)
    if not held:
        return
    try:
        with interruptible("recording the steps of a cancelled run"):
            run_sql.insert_steps(
                conf.database_alias(), run.workflow_id, run.executor_id, held, cancelled=True
            )
    except (IntegrityError, ExecutionInterrupted):
        logger.warning(
            "Could not record the last steps of cancelled workflow %s; a resume runs them again",
            run.workflow_id,
            exc_info=True,
            extra={"action": "cancelled_steps_lost", "workflow_id": run.workflow_id},
        )


def record_marker(run: RunContext, checkpoint: Checkpoint) -> None:
    """Record a step without a body (a sleep's wake-up time, a child's id) right away."""
    flush(run)
    write(run, [checkpoint])


FINISH_RETRY_PAUSES = (0.05, 0.25, 1.0)
"""Pauses before the outcome's write is tried again after losing the database: it carries
the last step's checkpoint, whose body would otherwise run again on recovery."""


def finish(
    run: RunContext, *, status: str, output: str | None = None, error: str | None = None
) -> None:
    """Record the run's outcome with its held checkpoints, in one commit. A lost database
    is tried again in place a few times before the run is interrupted."""
    with run.lock:
        held = _take_held(run)
    using = conf.database_alias()
    pauses = list(FINISH_RETRY_PAUSES)
    while True:
        try:
            with interruptible("recording the outcome"):
                done = _finish_once(run, held, status, output, error)
            break
        except ExecutionInterrupted:
            connection = connections[using]
            if not pauses or connection.in_atomic_block:
                raise
            connection.close()
            pause = pauses.pop(0)
            logger.warning(
                "Could not record the outcome of workflow %s; trying again in %.2fs",
                run.workflow_id,
                pause,
                extra={"action": "outcome_retry", "workflow_id": run.workflow_id},
            )
            run.cancel_event.wait(pause)  # a cancel ends the pause: the next write reports it
    if not done:
        raise _lost(run, held)
    if held:
        committed(run, held)


def _finish_once(
    run: RunContext,
    held: list[Checkpoint],
    status: str,
    output: str | None,
    error: str | None,
) -> bool:
    try:
        return run_sql.finish_run(
            conf.database_alias(),
            run.workflow_id,
            run.executor_id,
            status=status,
            output=output,
            error=error,
            now=timezone.now(),
            held=held,
        )
    except IntegrityError:
        if not _recorded_elsewhere(run, held):
            raise
        raise ExecutionInterrupted(
            f"A step of workflow {run.workflow_id!r} was recorded by another execution; "
            f"stopping here so the run replays the recorded outcome."
        ) from None
