"""``async def`` workflows: async and sync steps, transactions and durable sleep on a loop.

No pytest asyncio plugin is installed: each test drives its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.db.backends.base.base import BaseDatabaseWrapper

import django_durable as durable
from django_durable import conf, serialization
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from tests import workflows
from tests.helpers import step_rows
from tests.models import Event

# Runs execute on background threads with their own connections: commits must be real.
pytestmark = pytest.mark.django_db(transaction=True)

DEAD = "dead-executor"
ASYNC_STEPS = [(1, "async_add"), (2, "add_one"), (3, "write_event"), (4, "durable.sleep")]


# Threads that hold a connection legitimately while the suite runs (closed elsewhere).
OWN_CONNECTION_THREADS = ("durable-heartbeat",)


def stray_connections() -> list[tuple[str, BaseDatabaseWrapper]]:
    """Open database connections of other threads: (thread name or "<dead>", wrapper)."""
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    found = []
    for obj in gc.get_objects():
        if (
            isinstance(obj, BaseDatabaseWrapper)
            and obj.connection is not None
            and obj._thread_ident != me
        ):
            name = names.get(obj._thread_ident, "<dead>")
            if name not in OWN_CONNECTION_THREADS:
                found.append((name, obj))
    return found


# Threads of a runtime that outlive the runs they execute (named durable-<run id> while
# they execute one).
RUNTIME_THREADS = (
    "durable-heartbeat",
    "durable-background",
    "durable-sync",
    "durable-async",
    "durable-flusher",
)


def wait_until_no_run_thread(timeout: float = 10.0) -> None:
    """Background runs close their connections as they end: wait until none executes."""
    import time

    deadline = time.monotonic() + timeout
    while any(
        t.name.startswith("durable-") and not t.name.startswith(RUNTIME_THREADS)
        for t in threading.enumerate()
    ):
        assert time.monotonic() < deadline, "a run is still executing"
        time.sleep(0.01)


def run_with_id(workflow_id: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """``await fn(*args)`` under ``SetWorkflowID(workflow_id)`` on a fresh event loop."""

    async def main() -> Any:
        with durable.SetWorkflowID(workflow_id):
            return await fn(*args)

    return asyncio.run(main())


def leave_pending(workflow_id: str, *, keep_steps: int) -> None:
    """Make a finished run look like its process died after ``keep_steps`` steps."""
    StepOutput.objects.filter(run_id=workflow_id, step_number__gt=keep_steps).delete()
    updated = WorkflowRun.objects.filter(pk=workflow_id).update(
        status=RunStatus.PENDING, output=None, error=None, completed_at=None, executor_id=DEAD
    )
    assert updated == 1


def test_an_async_workflow_runs_its_steps_in_order_and_records_each():
    assert run_with_id("async-1", workflows.async_workflow, 1) == [11, 12, 12]
    run = WorkflowRun.objects.get(pk="async-1")
    assert (run.name, run.status) == ("async_workflow", RunStatus.SUCCESS)
    assert serialization.loads(run.inputs) == {"args": [1], "kwargs": {}}
    assert serialization.loads(run.output) == [11, 12, 12]
    assert step_rows("async-1") == ASYNC_STEPS
    outputs = [
        serialization.loads(s.output)
        for s in StepOutput.objects.filter(run_id="async-1", step_number__lte=3).order_by(
            "step_number"
        )
    ]
    assert outputs == [11, 12, 12]
    assert workflows.CALLS == {"async_add": 1, "add_one": 1, "write_event": 1}
    # The sync transaction committed its body with its checkpoint.
    assert list(Event.objects.filter(label="async").values_list("value", flat=True)) == [12]


def test_the_durable_sleep_of_an_async_workflow_records_a_past_wake_up_time():
    from django.utils import timezone

    run_with_id("async-nap", workflows.async_workflow, 2)
    sleep_row = StepOutput.objects.get(run_id="async-nap", step_number=4)
    assert sleep_row.step_name == "durable.sleep"
    assert serialization.loads(sleep_row.output) <= timezone.now()


def test_an_async_workflow_with_the_same_id_twice_runs_once():
    first = run_with_id("async-same", workflows.async_workflow, 1)
    second = run_with_id("async-same", workflows.async_workflow, 1)
    assert first == second == [11, 12, 12]
    assert workflows.CALLS == {"async_add": 1, "add_one": 1, "write_event": 1}
    assert WorkflowRun.objects.count() == 1
    assert Event.objects.filter(label="async").count() == 1


def test_an_async_workflow_without_an_id_is_a_new_run_each_time():
    async def twice() -> list[Any]:
        return [await workflows.async_workflow(1), await workflows.async_workflow(2)]

    assert asyncio.run(twice()) == [[11, 12, 12], [12, 13, 13]]
    assert WorkflowRun.objects.filter(name="async_workflow").count() == 2
    assert workflows.CALLS["async_add"] == 2


def test_an_async_workflow_started_in_the_background_runs_on_its_own_thread():
    handle = durable.start_workflow(workflows.async_workflow, 5)
    assert handle.get_result(timeout=10) == [15, 16, 16]
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert run.status == RunStatus.SUCCESS
    assert run.executor_id == conf.executor_id()
    assert step_rows(handle.workflow_id) == ASYNC_STEPS
    assert handle.get_status().output == [15, 16, 16]


def test_get_result_async_waits_for_an_async_background_run():
    handle = durable.start_workflow(workflows.async_workflow, 7)
    assert asyncio.run(handle.get_result_async(timeout=10)) == [17, 18, 18]
    assert asyncio.run(handle.get_status_async()).status == RunStatus.SUCCESS


def test_get_result_async_times_out_on_an_unfinished_run():
    handle = durable.start_workflow(workflows.waits_for_gate, 1)
    with pytest.raises(durable.WorkflowTimeout, match=handle.workflow_id):
        asyncio.run(handle.get_result_async(timeout=0.1))
    workflows.GATE.set()
    assert asyncio.run(handle.get_result_async(timeout=10)) == 3


def test_a_recovered_async_workflow_replays_recorded_steps_without_rerunning_them():
    run_with_id("async-rec", workflows.async_workflow, 1)
    leave_pending("async-rec", keep_steps=2)  # async step and sync step recorded
    workflows.CALLS.clear()
    (handle,) = durable.recover_pending_workflows([DEAD])
    assert handle.get_result(timeout=10) == [11, 12, 12]
    assert workflows.CALLS == {"write_event": 1}
    assert step_rows("async-rec") == ASYNC_STEPS
    run = WorkflowRun.objects.get(pk="async-rec")
    assert run.status == RunStatus.SUCCESS and run.recovery_attempts == 1


def test_a_recovered_async_workflow_with_every_step_recorded_reruns_none():
    run_with_id("async-rec-all", workflows.async_workflow, 3)
    StepOutput.objects.filter(run_id="async-rec-all", step_number=1).update(
        output=serialization.dumps(1000)
    )
    leave_pending("async-rec-all", keep_steps=4)
    workflows.CALLS.clear()
    (handle,) = durable.recover_pending_workflows([DEAD])
    # Steps 2 and 3 recorded 14 (from 13); step 1's recorded 1000 proves it was replayed.
    assert handle.get_result(timeout=10) == [1000, 14, 14]
    assert workflows.CALLS == {}
    assert Event.objects.filter(label="async").count() == 1


def test_an_async_step_called_outside_a_workflow_is_a_plain_call():
    assert asyncio.run(workflows.async_add(1)) == 11
    assert workflows.CALLS == {"async_add": 1}
    assert StepOutput.objects.count() == 0


def test_async_workflows_leave_no_database_connection_open_on_helper_threads():
    """Sync work of async workflows runs on helper threads; their connections must close.

    Otherwise each helper thread keeps a connection forever: never recycled
    (CONN_MAX_AGE, broken connections), and PostgreSQL cannot drop the database.
    """
    assert stray_connections() == []
    assert run_with_id("async-leak", workflows.async_workflow, 1) == [11, 12, 12]
    durable.start_workflow(workflows.async_workflow, 2).get_result(timeout=10)
    wait_until_no_run_thread()
    assert sorted(name for name, _ in stray_connections()) == []


def _thread_of(workflow_id: str) -> threading.Thread | None:
    for thread in threading.enumerate():
        if thread.name == f"durable-{workflow_id}":
            return thread
    return None


def _cancel_during_sleep(fn: Callable[..., Any], workflow_id: str) -> float:
    """Start ``fn(5)`` (a durable sleep), cancel it while it sleeps: seconds until it stops."""
    import time

    with durable.SetWorkflowID(workflow_id):
        handle = durable.start_workflow(fn, 5.0)
    deadline = time.monotonic() + 10
    while not StepOutput.objects.filter(run_id=workflow_id).exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    thread = _thread_of(workflow_id)
    assert thread is not None
    cancelled_at = time.monotonic()
    assert durable.cancel_workflow(workflow_id) is True
    with pytest.raises(durable.WorkflowCancelled):
        handle.get_result(timeout=1)
    stopped = time.monotonic() - cancelled_at
    # Never leave the execution (and its connection) behind: the thread lets go of it.
    while thread.name == f"durable-{workflow_id}":
        assert time.monotonic() < deadline + 10
        time.sleep(0.01)
    return stopped


def test_cancelling_a_sync_workflow_ends_its_durable_sleep_at_once():
    assert _cancel_during_sleep(workflows.sleeper, "sync-sleep-cancel") < 3.0  # of 5


def test_cancelling_an_async_workflow_ends_its_durable_sleep_at_once():
    """``sleep_async`` must wake on cancellation like ``sleep`` does, not sleep it out."""
    assert _cancel_during_sleep(workflows.async_sleeper, "async-sleep-cancel") < 3.0  # of 5
    assert WorkflowRun.objects.get(pk="async-sleep-cancel").status == RunStatus.CANCELLED
