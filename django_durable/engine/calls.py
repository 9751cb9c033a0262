"""What happens when a workflow is called or started: the three entry points of a run."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction

from django_durable import conf, context, registry
from django_durable.context import WorkflowState
from django_durable.engine import active as active_runs
from django_durable.engine import runs, steps, stored
from django_durable.engine.handles import WorkflowHandle
from django_durable.models import WorkflowRun
from django_durable.registry import WorkflowInfo

logger = logging.getLogger(__name__)


def child_slot(parent: WorkflowState | None, name: str) -> tuple[int | None, Any]:
    """For a call inside a workflow: the parent's step number and its recorded outcome."""
    if parent is None:
        return None, None
    number = parent.next_step()
    return number, parent.replayed(number, name)


def choose_workflow_id(parent: WorkflowState | None, number: int | None) -> str:
    chosen = context.take_workflow_id()
    if chosen:
        return chosen
    if parent is not None:
        return f"{parent.workflow_id}-{number}"
    return runs.new_workflow_id()


def _held_run(run: WorkflowRun) -> tuple[WorkflowRun, Any] | None:
    """After inserting: what to execute while holding the id, or ``None`` to wait instead."""
    row, created = runs.open_run(run)
    if created:
        return row, {}
    if runs.resumable(row):
        # Ours but executed by nobody here: an orphan of this executor id. Replay it.
        return row, runs.load_steps(row.pk)
    return None


def call(info: WorkflowInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A direct call of a sync workflow: run it durably in the caller's thread."""
    parent = context.current()
    if parent is not None and parent.current_step is not None:
        return info.func(*args, **kwargs)  # inside a step, durable functions are plain calls
    inv = runs.resolve(info, args, kwargs)
    number, recorded = child_slot(parent, info.name)
    if recorded is not None:
        return steps.replay(recorded)
    run = runs.new_run(
        inv, choose_workflow_id(parent, number), parent_id=parent.workflow_id if parent else None
    )
    try:
        result = _call_held_or_wait(run, inv)
    except Exception as exc:
        if parent is not None and number is not None:
            steps.record_child(parent, number, info.name, run.pk, error=exc)
        raise
    if parent is not None and number is not None:
        steps.record_child(parent, number, info.name, run.pk, result=result)
    return result


def _call_held_or_wait(run: WorkflowRun, inv: runs.Invocation) -> Any:
    holder = active_runs.try_acquire(run.pk)
    if holder is None:
        return runs.wait_outcome(run.pk)
    try:
        held = _held_run(run)
        if held is not None:
            row, recorded = held
            if recorded:
                inv = runs.invocation_of(row)
            return runs.execute(row, inv, holder, recorded)
    finally:
        active_runs.release(run.pk, holder)
    return runs.wait_outcome(run.pk)


async def acall(info: WorkflowInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A direct call of an ``async def`` workflow: run it durably on the caller's loop."""
    parent = context.current()
    if parent is not None and parent.current_step is not None:
        return await info.func(*args, **kwargs)
    inv = runs.resolve(info, args, kwargs)
    number, recorded = child_slot(parent, info.name)
    if recorded is not None:
        return steps.replay(recorded)
    run = runs.new_run(
        inv, choose_workflow_id(parent, number), parent_id=parent.workflow_id if parent else None
    )
    try:
        result = await _acall_held_or_wait(run, inv)
    except Exception as exc:
        if parent is not None and number is not None:
            await sync_to_async(steps.record_child)(parent, number, info.name, run.pk, error=exc)
        raise
    if parent is not None and number is not None:
        await sync_to_async(steps.record_child)(parent, number, info.name, run.pk, result=result)
    return result


async def _acall_held_or_wait(run: WorkflowRun, inv: runs.Invocation) -> Any:
    holder = active_runs.try_acquire(run.pk)
    if holder is None:
        return await runs.await_outcome(run.pk)
    try:
        held = await sync_to_async(_held_run)(run)
        if held is not None:
            row, recorded = held
            if recorded:
                inv = await sync_to_async(runs.invocation_of)(row)
            return await runs.aexecute(row, inv, holder, recorded)
    finally:
        active_runs.release(run.pk, holder)
    return await runs.await_outcome(run.pk)


workflow_info_of = registry.info_of


def start_workflow(fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
    """Start a workflow on a background thread and return its handle at once.

    The run row is written in the caller's transaction; the thread starts when it commits.
    """
    info, receiver = workflow_info_of(fn)
    parent = context.current()
    if parent is not None and parent.current_step is not None:
        parent = None  # started from inside a step: an independent run
    inv = runs.resolve(info, receiver + args, kwargs)
    number, recorded = child_slot(parent, info.name)
    if recorded is not None:
        return WorkflowHandle(str(recorded.child_workflow_id))
    run = runs.new_run(
        inv, choose_workflow_id(parent, number), parent_id=parent.workflow_id if parent else None
    )
    row, created = runs.open_run(run)
    if parent is not None and number is not None:
        steps.record_child(parent, number, info.name, run.pk, started=True)
    if created or runs.resumable(row):
        workflow_id = row.pk
        transaction.on_commit(
            lambda: stored.in_background(workflow_id), using=conf.database_alias()
        )
    return WorkflowHandle(row.pk)
