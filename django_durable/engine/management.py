"""The rest of the management API (DBOS's names): a run's steps and status, queued runs,
cancelling, resuming and deleting many runs, and waiting for the first of several.

Inside a workflow each call is recorded as a step (``recorded``), as DBOS does, so a
replay sees what the first execution saw and does not act twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django_durable import conf, error_records, registry, serialization
from django_durable.engine import control, recorded, runs, steps
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.exceptions import (
    InvalidStateError,
    WorkflowNotFound,
    WorkflowTimeout,
)
from django_durable.models import FINISHED, RunStatus, StepOutput, WorkflowRun
from django_durable.values import WorkflowStatus

logger = logging.getLogger(__name__)

LIST_STEPS_STEP = "durable.list_workflow_steps"
GET_STATUS_STEP = "durable.get_workflow_status"
WAIT_FIRST_STEP = "durable.wait_first"
RESUME_STEP = "durable.resume_workflows"
FIRST_DELAY = 0.005


def _epoch_ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def _step_info(step: StepOutput) -> dict[str, Any]:
    return {
        "function_id": step.step_number,
        "function_name": step.step_name,
        "output": serialization.loads(step.output) if step.output is not None else None,
        "error": error_records.decode_exception(step.error) if step.error else None,
        "child_workflow_id": step.child_workflow_id,
        "started_at_epoch_ms": _epoch_ms(step.started_at),
        "completed_at_epoch_ms": _epoch_ms(step.completed_at),
    }


def _encode_steps(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**info, "error": error_records.encode_exception(info["error"]) if info["error"] else None}
        for info in infos
    ]


def _decode_steps(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**step, "error": error_records.decode_exception(step["error"]) if step["error"] else None}
        for step in stored
    ]


def list_workflow_steps(workflow_id: str) -> list[dict[str, Any]]:
    """The recorded steps of a run in order, as dicts with DBOS's ``StepInfo`` keys:
    ``function_id`` (the step number), ``function_name``, ``output``, ``error`` (the
    exception), ``child_workflow_id``, ``started_at_epoch_ms``, ``completed_at_epoch_ms``.
    A run without steps (or no run) gives ``[]``. Markers (a durable sleep, a child's
    start, a ``patch``) are steps too."""

    def read() -> list[dict[str, Any]]:
        rows = StepOutput.objects.using(conf.database_alias()).filter(run_id=workflow_id)
        return [_step_info(row) for row in rows.order_by("step_number")]

    return recorded.recorded(LIST_STEPS_STEP, read, encode=_encode_steps, decode=_decode_steps)


async def list_workflow_steps_async(workflow_id: str) -> list[dict[str, Any]]:
    return await runtimes.current().run_sync(lambda: list_workflow_steps(workflow_id))


def get_workflow_status(workflow_id: str) -> WorkflowStatus | None:
    """A snapshot of the run, or ``None`` if no run has that id."""

    def read() -> WorkflowStatus | None:
        try:
            return runs.fetch(workflow_id).to_status()
        except WorkflowNotFound:
            return None

    return recorded.recorded(
        GET_STATUS_STEP, read, encode=recorded.encode_status, decode=recorded.decode_status
    )


async def get_workflow_status_async(workflow_id: str) -> WorkflowStatus | None:
    return await runtimes.current().run_sync(lambda: get_workflow_status(workflow_id))


def list_queued_workflows(**filters: Any) -> list[WorkflowStatus]:
    """``list_workflows`` of the runs of a queue that are enqueued or executing (unless a
    ``status`` filter is given); the same keyword filters."""
    return control.list_workflows(queues_only=True, **filters)


async def list_queued_workflows_async(**filters: Any) -> list[WorkflowStatus]:
    return await runtimes.current().run_sync(lambda: list_queued_workflows(**filters))


# ---------------------------------------------------------------- many runs at once


def _ids(workflow_ids: Iterable[str], what: str) -> list[str]:
    if isinstance(workflow_ids, str):
        raise TypeError(f"{what} takes a list of workflow ids, not the string {workflow_ids!r}.")
    return list(dict.fromkeys(workflow_ids))


def _existing(ids: list[str]) -> dict[str, WorkflowRun]:
    found = WorkflowRun.objects.using(conf.database_alias()).in_bulk(ids)
    missing = [workflow_id for workflow_id in ids if workflow_id not in found]
    if missing:
        raise WorkflowNotFound(f"No workflow run has the id(s) {', '.join(map(repr, missing))}.")
    return found


@recorded.recorded_in_workflows("durable.cancel_workflows")
def cancel_workflows(workflow_ids: Iterable[str]) -> list[str]:
    """Cancel each enqueued or running run; the ids cancelled now (the others had already
    finished). An unknown id raises ``WorkflowNotFound`` before anything is cancelled."""
    ids = _ids(workflow_ids, "cancel_workflows")
    _existing(ids)
    return [workflow_id for workflow_id in ids if control.cancel_workflow(workflow_id)]


def resume_workflows(workflow_ids: Iterable[str]) -> list[WorkflowHandle]:
    """``resume_workflow`` each run; a handle each. Every run is checked first (it exists,
    it can be resumed, its workflow is registered here), so a bad one resumes nothing.
    Inside a workflow the call is recorded as a step."""
    ids = _ids(workflow_ids, "resume_workflows")

    def resume() -> list[str]:
        for workflow_id, run in _existing(ids).items():
            if run.status in (RunStatus.SUCCESS, RunStatus.PENDING):
                raise InvalidStateError(
                    f"Workflow {workflow_id!r} is {run.status}; it cannot be resumed "
                    f"(nothing was resumed)."
                )
            registry.get_workflow(run.name)
        return [control.resume_workflow(workflow_id).workflow_id for workflow_id in ids]

    return [WorkflowHandle(workflow_id) for workflow_id in recorded.recorded(RESUME_STEP, resume)]


async def cancel_workflows_async(workflow_ids: Iterable[str]) -> list[str]:
    return await runtimes.current().run_sync(lambda: cancel_workflows(workflow_ids))


async def resume_workflows_async(workflow_ids: Iterable[str]) -> list[WorkflowHandle]:
    return await runtimes.current().run_sync(lambda: resume_workflows(workflow_ids))


def _children(ids: list[str]) -> list[str]:
    """Every descendant of the runs ``ids`` (children started or enqueued by them)."""
    rows = WorkflowRun.objects.using(conf.database_alias())
    found: list[str] = []
    frontier = ids
    while frontier:
        frontier = [
            child
            for child in rows.filter(parent_id__in=frontier).values_list("workflow_id", flat=True)
            if child not in found and child not in ids
        ]
        found += frontier
    return found


@recorded.recorded_in_workflows("durable.delete_workflows")
def delete_workflows(workflow_ids: Iterable[str], *, delete_children: bool = False) -> int:
    """Delete runs and their steps (with ``delete_children``, every run they started too);
    how many runs were deleted. A run still executing stops at its next step, as if
    cancelled."""
    ids = _ids(workflow_ids, "delete_workflows")
    if delete_children:
        ids += _children(ids)
    if not ids:
        return 0
    rows = WorkflowRun.objects.using(conf.database_alias()).filter(pk__in=ids)
    deleted = rows.count()
    rows.delete()  # the steps go with their run
    for workflow_id in ids:
        runtimes.request_cancel(workflow_id)
    logger.info(
        "Deleted %d workflow run(s): %s",
        deleted,
        ", ".join(ids[:20]) + (" ..." if len(ids) > 20 else ""),
        extra={"action": "workflows_deleted"},
    )
    return deleted


def delete_workflow(workflow_id: str, delete_children: bool = False) -> bool:
    """Delete a run and its steps (with ``delete_children``, every run it started too);
    ``False`` if no run has that id."""
    return delete_workflows([workflow_id], delete_children=delete_children) > 0


async def delete_workflow_async(workflow_id: str, delete_children: bool = False) -> bool:
    return await runtimes.current().run_sync(lambda: delete_workflow(workflow_id, delete_children))


# ---------------------------------------------------------------- the first to finish


def _check_handles(handles: Sequence[Any]) -> list[str]:
    ids = [handle.workflow_id for handle in handles]
    if not ids:
        raise ValueError("wait_first needs at least one handle.")
    if len(set(ids)) != len(ids):
        raise ValueError(f"wait_first got the same workflow more than once: {ids!r}.")
    return ids


def _first_finished(ids: list[str]) -> str | None:
    return (
        WorkflowRun.objects.using(conf.database_alias())
        .filter(pk__in=ids, status__in=FINISHED)
        .order_by("completed_at", "workflow_id")
        .values_list("workflow_id", flat=True)
        .first()
    )


def _wait_first(ids: list[str], timeout: float | None, poll: float) -> str:
    _existing(ids)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_DELAY
    while True:
        first = _first_finished(ids)
        if first is not None:
            return first
        if deadline is not None and time.monotonic() >= deadline:
            raise WorkflowTimeout(f"None of {ids!r} finished within {timeout} seconds.")
        pause = delay if deadline is None else min(delay, max(deadline - time.monotonic(), 0))
        time.sleep(pause)
        delay = min(delay * 2, poll)


def wait_first(
    handles: Sequence[WorkflowHandle],
    *,
    timeout: float | None = None,
    polling_interval_sec: float = 0.25,
) -> WorkflowHandle:
    """Wait until one of the runs finishes (whatever its outcome); its handle (the one
    that finished first if several have). Polls every ``polling_interval_sec`` at most;
    ``timeout`` raises ``WorkflowTimeout``. Inside a workflow the answer is recorded."""
    ids = _check_handles(handles)
    by_id = {handle.workflow_id: handle for handle in handles}
    first = recorded.recorded(
        WAIT_FIRST_STEP, lambda: _wait_first(ids, timeout, polling_interval_sec)
    )
    return by_id[first]


async def wait_first_async(
    handles: Sequence[Any],
    *,
    timeout: float | None = None,
    polling_interval_sec: float = 0.25,
) -> Any:
    """``wait_first`` for coroutines: polls without blocking the event loop."""
    ids = _check_handles(handles)
    by_id = {handle.workflow_id: handle for handle in handles}
    runtime = runtimes.current()
    run = steps.durable_run()

    async def wait() -> str:
        await runtime.run_sync(lambda: _existing(ids))
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        delay = FIRST_DELAY
        while True:
            first = await runtime.run_sync(lambda: _first_finished(ids))
            if first is not None:
                return first
            if deadline is not None and loop.time() >= deadline:
                raise WorkflowTimeout(f"None of {ids!r} finished within {timeout} seconds.")
            await asyncio.sleep(delay)
            delay = min(delay * 2, polling_interval_sec)

    if run is None:
        return by_id[await wait()]
    number = run.next_number()
    first = await steps.aexecute(run, number, WAIT_FIRST_STEP, wait)
    return by_id[first]
