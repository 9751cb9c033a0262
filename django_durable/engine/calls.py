"""What happens when a workflow is called or started: direct calls, children, starts."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from django.db import connections, transaction
from django.utils import timezone

from django_durable import conf, context, registry
from django_durable.context import Checkpoint, RunContext
from django_durable.engine import checkpoints, execution, runs, steps, timeouts, waiting
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.engine.runtime import Runtime
from django_durable.exceptions import InvalidStateError
from django_durable.models import WorkflowRun
from django_durable.registry import WorkflowInfo

logger = logging.getLogger(__name__)


def choose_workflow_id(parent: RunContext | None, number: int | None) -> str:
    chosen = context.take_workflow_id()
    if chosen:
        return chosen
    if parent is not None:
        return f"{parent.workflow_id}-{number}"
    return runs.new_workflow_id()


def _row(
    inv: runs.Invocation, parent: RunContext | None, number: int | None, runtime: Runtime
) -> WorkflowRun:
    return runs.new_run(
        inv,
        choose_workflow_id(parent, number),
        executor_id=runtime.executor_id,
        parent_id=parent.workflow_id if parent else None,
        timeout=timeouts.for_new_run(parent, queued=False, now=timezone.now()),
    )


def _held_run(
    row: WorkflowRun, inv: runs.Invocation, runtime: Runtime
) -> tuple[WorkflowRun, runs.Invocation, dict[int, Any]] | None:
    """After inserting: what to execute while holding the id, or ``None`` to wait for its
    outcome instead."""
    with checkpoints.interruptible("starting a run"):
        opened, created = runs.open_run(row)
        if created:
            return opened, inv, {}
        if execution.resumable(opened, runtime):
            # Ours but executed by nobody here: an orphan of this executor id. Replay it
            # (as stored; if it cannot run, it ends ERROR and the wait returns that).
            stored = execution.prepare(opened, runtime)
            if stored is not None:
                return opened, stored, runs.load_steps(opened.pk)
    return None


def _run_or_wait(row: WorkflowRun, inv: runs.Invocation, runtime: Runtime) -> Any:
    holder = runtime.try_hold(row.pk)
    if holder is None:
        return waiting.wait_outcome(row.pk, runtime=runtime)
    try:
        held = _held_run(row, inv, runtime)
        if held is not None:
            return execution.execute(*held[:2], holder, held[2], runtime)
    finally:
        runtime.release(row.pk, holder)
    return waiting.wait_outcome(row.pk, runtime=runtime)


async def _arun_or_wait(row: WorkflowRun, inv: runs.Invocation, runtime: Runtime) -> Any:
    holder = runtime.try_hold(row.pk)
    if holder is None:
        return await waiting.await_outcome(row.pk, runtime=runtime)
    try:
        held = await runtime.run_sync(lambda: _held_run(row, inv, runtime))
        if held is not None:
            return await execution.aexecute(*held[:2], holder, held[2], runtime)
    finally:
        runtime.release(row.pk, holder)
    return await waiting.await_outcome(row.pk, runtime=runtime)


def call(info: WorkflowInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A direct call of a sync workflow: run it durably in the caller's thread. Inside a
    workflow it is a child, recorded as a step of its parent."""
    parent = steps.durable_run()
    if parent is None and context.current() is not None:
        return info.func(*args, **kwargs)  # inside a step, durable functions are plain calls
    inv = runs.resolve(info, args, kwargs)
    runtime = runtimes.current()
    if parent is None:
        return _run_or_wait(_row(inv, None, None, runtime), inv, runtime)
    number = parent.next_number()
    if steps.in_event_loop():
        return steps.off_loop(parent, lambda: _child(parent, number, info, inv))
    return _child(parent, number, info, inv)


def _child(parent: RunContext, number: int, info: WorkflowInfo, inv: runs.Invocation) -> Any:
    recorded = parent.replayed(number, info.name)
    if recorded is not None:
        return steps.replay(recorded)
    row = _row(inv, parent, number, parent.runtime)
    return steps.execute(
        parent,
        number,
        info.name,
        lambda: _run_or_wait(row, inv, parent.runtime),
        child_id=row.pk,
    )


def call_async(
    info: WorkflowInfo, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Awaitable[Any]:
    """A direct call of an ``async def`` workflow: numbered now (inside a workflow), run
    durably on the caller's loop when awaited."""
    parent = steps.durable_run()
    if parent is None and context.current() is not None:
        return info.func(*args, **kwargs)  # type: ignore[no-any-return]
    inv = runs.resolve(info, args, kwargs)
    runtime = runtimes.current()
    if parent is None:
        return _arun_or_wait(_row(inv, None, None, runtime), inv, runtime)
    number = parent.next_number()
    recorded = parent.replayed(number, info.name)
    if recorded is not None:
        return _replayed(recorded)
    row = _row(inv, parent, number, runtime)
    return steps.aexecute(
        parent,
        number,
        info.name,
        lambda: _arun_or_wait(row, inv, runtime),
        child_id=row.pk,
    )


async def _replayed(recorded: Any) -> Any:
    return steps.replay(recorded)


# ---------------------------------------------------------------- start_workflow


def _refuse_enqueue_options() -> None:
    if context.enqueue_options() is not None:
        raise InvalidStateError(
            "start_workflow() uses no queue, so SetEnqueueOptions (priority, "
            "deduplication_id, delay_seconds) cannot apply to it; use Queue(...).enqueue() "
            "inside the SetEnqueueOptions block."
        )


def start_workflow(fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
    """Start a workflow on a background thread and return its handle at once.

    The run row is written in the caller's transaction; the thread starts when it commits.
    Inside a workflow the start is recorded as a step, so a replay returns the same handle.
    """
    info, receiver = registry.info_of(fn)
    _refuse_enqueue_options()
    parent = steps.durable_run()  # started from inside a step: an independent run
    inv = runs.resolve(info, receiver + args, kwargs)
    runtime = runtimes.current()
    if parent is None:
        return WorkflowHandle(_start(_row(inv, None, None, runtime), runtime))
    number = parent.next_number()
    if steps.in_event_loop():
        handle: WorkflowHandle = steps.off_loop(
            parent, lambda: _start_child(parent, number, info, inv)
        )
        return handle
    return _start_child(parent, number, info, inv)


def _start_child(
    parent: RunContext, number: int, info: WorkflowInfo, inv: runs.Invocation
) -> WorkflowHandle:
    recorded = parent.replayed(number, info.name)
    if recorded is not None:
        return WorkflowHandle(str(recorded.child_workflow_id))
    parent.check_cancelled()
    checkpoints.flush(parent)
    row = _row(inv, parent, number, parent.runtime)
    workflow_id = _start(row, parent.runtime)
    checkpoints.record_marker(
        parent,
        Checkpoint(step_number=number, step_name=info.name, child_workflow_id=workflow_id),
    )
    return WorkflowHandle(workflow_id)


def _start(row: WorkflowRun, runtime: Runtime) -> str:
    """Write the run and execute it on a background thread of ``runtime`` once the caller's
    transaction commits. The run is held from before it is visible to other connections,
    so nothing in this process (a worker looking for its executor's leftovers) takes it
    for an orphan."""
    alias = conf.database_alias()
    if connections[alias].in_atomic_block:
        # Visible (and held) only once the caller's transaction commits; if it rolls back
        # there is nothing to run.
        opened, created = runs.open_run(row)
        if created or execution.resumable(opened, runtime):
            transaction.on_commit(lambda: _hold_and_run(opened.pk, runtime), using=alias)
        return opened.pk
    holder = runtime.try_hold(row.pk)
    try:
        opened, created = runs.open_run(row)
    except BaseException:
        if holder is not None:
            runtime.release(row.pk, holder)
        raise
    if holder is not None:
        if created or execution.resumable(opened, runtime):
            execution.in_background(opened.pk, runtime, holder)
        else:
            runtime.release(row.pk, holder)
    return opened.pk


def _hold_and_run(workflow_id: str, runtime: Runtime) -> None:
    holder = runtime.try_hold(workflow_id)
    if holder is not None:  # else: executing in this process already
        execution.in_background(workflow_id, runtime, holder)


async def start_workflow_async(fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
    """``start_workflow`` for coroutines: the run row is written off the event loop."""
    info, receiver = registry.info_of(fn)
    _refuse_enqueue_options()
    parent = steps.durable_run()
    inv = runs.resolve(info, receiver + args, kwargs)
    runtime = runtimes.current()
    if parent is None:
        row = _row(inv, None, None, runtime)
        return WorkflowHandle(await runtime.run_sync(lambda: _start(row, runtime)))
    number = parent.next_number()
    return await runtime.run_sync(lambda: _start_child(parent, number, info, inv))
