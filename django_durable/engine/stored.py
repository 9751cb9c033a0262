"""Executing a stored run: by id, on a worker's or a background thread, replaying its steps."""

from __future__ import annotations

import contextvars
import logging
import threading
import time

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

from django_durable.engine import active as active_runs
from django_durable.engine import runs
from django_durable.exceptions import ExecutionInterrupted, InvalidStateError, WorkflowCancelled

logger = logging.getLogger(__name__)


def hold(workflow_id: str) -> active_runs.ActiveRun:
    """Hold ``workflow_id`` once no other thread of this process executes it.

    A thread still finishing the run (a cancelled one reaching its next step, say) is
    waited for; the caller then re-reads the row and replays from its checkpoints.
    """
    while True:
        holder = active_runs.try_acquire(workflow_id)
        if holder is not None:
            return holder
        current = active_runs.get(workflow_id)
        if current is not None:
            current.done.wait(1.0)


async def ahold(workflow_id: str) -> active_runs.ActiveRun:
    """``hold`` without blocking the event loop."""
    import asyncio

    while True:
        holder = active_runs.try_acquire(workflow_id)
        if holder is not None:
            return holder
        await asyncio.sleep(0.01)


def execute_by_id(workflow_id: str) -> None:
    """Execute a stored run assigned to this executor, replaying its recorded steps."""
    holder = hold(workflow_id)
    try:
        with runs.interruptible():
            run = runs.fetch(workflow_id)
            if not runs.resumable(run):
                return
            inv = runs.invocation_of(run)
            recorded = runs.load_steps(workflow_id)
        logger.info(
            "Executing workflow %s (%s) with %d recorded steps",
            workflow_id,
            run.name,
            len(recorded),
            extra={"action": "workflow_executing", "workflow_id": workflow_id},
        )
        if inv.info.is_async:
            import asyncio

            asyncio.run(runs.aexecute(run, inv, holder, recorded))
        else:
            runs.execute(run, inv, holder, recorded)
    finally:
        active_runs.release(workflow_id, holder)


async def aexecute_by_id(workflow_id: str) -> None:
    """``execute_by_id`` for ``async def`` workflows, on the caller's event loop."""
    holder = await ahold(workflow_id)
    try:
        with runs.interruptible():
            run = await sync_to_async(runs.fetch)(workflow_id)
            if not runs.resumable(run):
                return
            inv = await sync_to_async(runs.invocation_of)(run)
            recorded = await sync_to_async(runs.load_steps)(workflow_id)
        if not inv.info.is_async:
            raise InvalidStateError(f"Workflow {run.name!r} is not an async workflow.")
        await runs.aexecute(run, inv, holder, recorded)
    finally:
        active_runs.release(workflow_id, holder)


def log_run_end(workflow_id: str, exc: Exception) -> None:
    """Log how a run executed off the caller's thread ended; its outcome is on its row."""
    if isinstance(exc, WorkflowCancelled):
        logger.info(
            "Workflow %s was cancelled",
            workflow_id,
            extra={"action": "workflow_cancelled", "workflow_id": workflow_id},
        )
    else:
        logger.warning(
            "Workflow %s failed",
            workflow_id,
            exc_info=exc,
            extra={"action": "workflow_failed", "workflow_id": workflow_id},
        )


def in_background(workflow_id: str) -> threading.Thread:
    """Execute a stored run on a new thread with its own database connection.

    If the database goes away meanwhile, the thread waits and resumes the run from its
    checkpoints once the database is back.
    """

    def target() -> None:
        delay = 1.0
        while True:
            close_old_connections()
            try:
                execute_by_id(workflow_id)
                return
            except ExecutionInterrupted as exc:
                logger.warning(
                    "Workflow %s was interrupted (%s); retrying in %.0fs",
                    workflow_id,
                    exc,
                    delay,
                    extra={"action": "workflow_interrupted", "workflow_id": workflow_id},
                )
                connections.close_all()
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception as exc:
                log_run_end(workflow_id, exc)
                return
            finally:
                connections.close_all()

    thread = threading.Thread(
        target=contextvars.Context().run,
        args=(target,),
        name=f"durable-{workflow_id}",
        daemon=True,
    )
    thread.start()
    return thread
