"""The rest of the management API (DBOS's names): steps and status of a run, more
``list_workflows`` filters, queued runs, bulk cancel / resume / delete, fork onto a queue,
``wait_first``, ``run_step``, step timeouts, ``step_status`` and the async schedule API.

Modelled on DBOS Transact's ``test_workflow_management``, ``test_workflow_introspection``,
``test_dbos`` (``step_status``) and ``test_async`` (step timeouts) tests.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable.dbos import DBOS
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.testing import run_until_idle
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)

SEEN: list[Any] = []


@durable.step(retries_allowed=True, max_attempts=3, interval_seconds=0)
def reports_its_status(fail_until: int) -> Any:
    status = durable.step_status()
    SEEN.append(status)
    if status.current_attempt < fail_until:
        raise ValueError(f"attempt {status.current_attempt}")
    return [status.step_id, status.current_attempt, status.max_attempts]


@durable.step()
def plain_status() -> Any:
    status = durable.step_status()
    return [status.step_id, status.current_attempt, status.max_attempts]


@durable.workflow()
def status_workflow() -> Any:
    return [plain_status(), reports_its_status(2), durable.step_status()]


def doubled(x: int) -> int:
    SEEN.append(x)
    return 2 * x


@durable.workflow()
def uses_run_step(x: int) -> int:
    return durable.run_step(doubled, x) + durable.run_step(doubled, x + 1)


@durable.workflow()
def dbos_run_step(x: int) -> int:
    return DBOS.run_step({"name": "doubling", "retries_allowed": True}, doubled, x)


async def async_doubled(x: int) -> int:
    SEEN.append(x)
    return 2 * x


@durable.workflow()
async def async_run_step(x: int) -> int:
    return await durable.run_step_async(async_doubled, x) + await durable.run_step_async(
        doubled, x
    )


@durable.step(timeout_seconds=0.05)
async def too_slow() -> str:
    await asyncio.sleep(30)
    return "never"


@durable.step(timeout_seconds=30)
async def raises_its_own_timeout() -> str:
    raise TimeoutError("mine")


ATTEMPTS: list[int] = []


@durable.step(timeout_seconds=0.05, retries_allowed=True, max_attempts=3, interval_seconds=0)
async def slow_then_fast() -> str:
    ATTEMPTS.append(len(ATTEMPTS))
    if len(ATTEMPTS) < 3:
        await asyncio.sleep(30)
    return "fast"


@durable.workflow()
async def timing_out(which: str) -> str:
    step = {"slow": too_slow, "own": raises_its_own_timeout, "retry": slow_then_fast}[which]
    return str(await step())


@durable.workflow()
def reads_steps_and_status(workflow_id: str) -> list[Any]:
    steps = durable.list_workflow_steps(workflow_id)
    status = durable.get_workflow_status(workflow_id)
    missing = durable.get_workflow_status("no-such-run")
    return [len(steps), status.status if status else None, missing]


def run(fn: Any, workflow_id: str, *args: Any) -> Any:
    with durable.SetWorkflowID(workflow_id):
        return fn(*args)


# ---------------------------------------------------------------- steps and status


def test_list_workflow_steps_has_dbos_step_info_keys():
    run(workflows.three_steps, "three", 1)
    steps = durable.list_workflow_steps("three")
    assert [(s["function_id"], s["function_name"], s["output"]) for s in steps] == [
        (1, "add_one", 2),
        (2, "double", 4),
        (3, "to_text", "value=4"),
    ]
    assert set(steps[0]) == {
        "function_id",
        "function_name",
        "output",
        "error",
        "child_workflow_id",
        "started_at_epoch_ms",
        "completed_at_epoch_ms",
    }
    assert steps[0]["error"] is None and steps[0]["child_workflow_id"] is None
    assert 0 < steps[0]["started_at_epoch_ms"] <= steps[0]["completed_at_epoch_ms"]
    assert durable.list_workflow_steps("no-such-run") == []


def test_list_workflow_steps_shows_errors_and_children():
    with pytest.raises(workflows.PaymentDeclined):
        run(workflows.failing_workflow, "fails", 5)
    (step,) = durable.list_workflow_steps("fails")
    assert isinstance(step["error"], workflows.PaymentDeclined)
    assert step["output"] is None
    run(workflows.parent, "parent", 1)
    steps = durable.list_workflow_steps("parent")
    assert steps[1]["child_workflow_id"] == "parent-2"
    assert steps[2]["child_workflow_id"] == "parent-3"


def test_get_workflow_status_is_none_for_an_unknown_run():
    run(workflows.three_steps, "known", 1)
    status = durable.get_workflow_status("known")
    assert status is not None and status.status == RunStatus.SUCCESS
    assert status.output == "value=4" and status.app_version is None
    assert durable.get_workflow_status("unknown") is None


def test_reads_inside_a_workflow_are_recorded_and_replayed():
    run(workflows.three_steps, "observed", 1)
    assert run(reads_steps_and_status, "observer", "observed") == [3, "SUCCESS", None]
    assert [
        name
        for _, name in StepOutput.objects.filter(run_id="observer")
        .values_list("step_number", "step_name")
        .order_by("step_number")
    ] == [
        "durable.list_workflow_steps",
        "durable.get_workflow_status",
        "durable.get_workflow_status",
    ]
    WorkflowRun.objects.filter(pk="observed").delete()
    fork = durable.fork_workflow("observer", 4)  # replays the three recorded reads
    run_until_idle()
    assert fork.get_result(timeout=5) == [3, "SUCCESS", None]


def test_async_reads():
    run(workflows.three_steps, "async-read", 1)

    async def read() -> list[Any]:
        steps = await durable.list_workflow_steps_async("async-read")
        status = await durable.get_workflow_status_async("async-read")
        queued = await durable.list_queued_workflows_async()
        return [len(steps), status.status if status else None, queued]

    assert asyncio.run(read()) == [3, "SUCCESS", []]


# ---------------------------------------------------------------- listing


def test_the_new_list_workflows_filters():
    for workflow_id in ("batch-1", "batch-2", "other-1"):
        run(workflows.three_steps, workflow_id, 1)
    run(workflows.parent, "fam", 1)
    fork = durable.fork_workflow("batch-1", 2)
    ids = lambda **filters: [s.workflow_id for s in durable.list_workflows(**filters)]  # noqa: E731
    assert ids(workflow_id_prefix="batch-") == ["batch-1", "batch-2"]
    assert ids(workflow_id_prefix=["batch-2", "other"]) == ["batch-2", "other-1"]
    assert ids(parent_workflow_id="fam") == ["fam-2", "fam-3"]
    assert ids(forked_from="batch-1") == [fork.workflow_id]
    executor = WorkflowRun.objects.get(pk="batch-1").executor_id
    assert "batch-2" in ids(executor_id=executor)
    assert ids(executor_id="nobody") == []
    after = (timezone.now() + timedelta(seconds=5)).isoformat()
    assert ids(start_time=after) == []
    assert "batch-1" in ids(end_time=after)
    with pytest.raises(ValueError, match="start_time"):
        durable.list_workflows(start_time="yesterday")
    (light,) = durable.list_workflows(
        workflow_ids=["batch-1"], load_input=False, load_output=False
    )
    assert (light.input, light.output, light.status) == (None, None, RunStatus.SUCCESS)
    (full,) = durable.list_workflows(workflow_ids=["batch-1"])
    assert full.input == {"args": [1], "kwargs": {}} and full.output == "value=4"


def test_list_queued_workflows_lists_runs_of_queues_still_to_finish():
    with durable.SetWorkflowID("waiting"):
        workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
    run(workflows.three_steps, "direct", 1)
    assert [s.workflow_id for s in durable.list_queued_workflows()] == ["waiting"]
    assert [s.workflow_id for s in durable.list_queued_workflows(queue_name="queues-serial")] == []
    run_until_idle()
    assert durable.list_queued_workflows() == []
    assert [s.workflow_id for s in durable.list_queued_workflows(status="SUCCESS")] == ["waiting"]


# ---------------------------------------------------------------- many runs at once


def enqueue(*ids: str) -> None:
    for workflow_id in ids:
        with durable.SetWorkflowID(workflow_id):
            workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)


def test_cancel_and_resume_many():
    enqueue("c1", "c2")
    run(workflows.three_steps, "done", 1)
    with pytest.raises(durable.WorkflowNotFound, match="'nope'"):
        durable.cancel_workflows(["c1", "nope"])
    assert WorkflowRun.objects.get(pk="c1").status == RunStatus.ENQUEUED  # nothing cancelled
    assert durable.cancel_workflows(["c1", "c2", "done"]) == ["c1", "c2"]
    with pytest.raises(durable.InvalidStateError, match="'done'"):
        durable.resume_workflows(["c1", "done"])
    assert WorkflowRun.objects.get(pk="c1").status == RunStatus.CANCELLED  # nothing resumed
    handles = durable.resume_workflows(["c1", "c2"])
    assert [handle.workflow_id for handle in handles] == ["c1", "c2"]
    run_until_idle()
    assert [handle.get_result(timeout=5) for handle in handles] == ["value=4", "value=4"]
    with pytest.raises(TypeError, match="list"):
        durable.cancel_workflows("c1")


def test_delete_a_run_with_or_without_its_children():
    run(workflows.parent, "tree", 1)
    run(workflows.parent, "tree2", 1)
    assert durable.delete_workflow("tree") is True
    assert not WorkflowRun.objects.filter(pk="tree").exists()
    assert not StepOutput.objects.filter(run_id="tree").exists()
    assert WorkflowRun.objects.filter(parent_id="tree").count() == 2  # children kept
    assert durable.delete_workflow("tree2", delete_children=True) is True
    assert not WorkflowRun.objects.filter(pk__startswith="tree2").exists()
    assert durable.delete_workflow("tree2") is False
    assert durable.delete_workflows(["tree-2", "tree-3", "nope"]) == 2

    async def aio() -> bool:
        return await durable.delete_workflow_async("nope")

    assert asyncio.run(aio()) is False


def test_fork_onto_a_queue():
    run(workflows.three_steps, "to-fork", 1)
    handle = durable.fork_workflow("to-fork", 2, queue_name="queues-serial")
    row = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (row.queue_name, row.forked_from, row.status) == (
        "queues-serial",
        "to-fork",
        "ENQUEUED",
    )
    run_until_idle()
    assert handle.get_result(timeout=5) == "value=4"
    with pytest.raises(durable.InvalidStateError, match="no-such-queue"):
        durable.fork_workflow("to-fork", 2, queue_name="no-such-queue")

    async def aio() -> str:
        return (await durable.fork_workflow_async("to-fork", 1)).workflow_id

    assert WorkflowRun.objects.get(pk=asyncio.run(aio())).forked_from == "to-fork"


# ---------------------------------------------------------------- the first to finish


def test_wait_first_returns_the_handle_of_the_run_that_finished():
    enqueue("slow-one")
    run(workflows.three_steps, "quick", 1)
    slow, quick = durable.retrieve_workflow("slow-one"), durable.retrieve_workflow("quick")
    assert durable.wait_first([slow, quick]) is quick
    with pytest.raises(durable.WorkflowTimeout):
        durable.wait_first([slow], timeout=0.05)
    with pytest.raises(ValueError, match="at least one"):
        durable.wait_first([])
    with pytest.raises(ValueError, match="more than once"):
        durable.wait_first([quick, quick])
    with pytest.raises(durable.WorkflowNotFound):
        durable.wait_first([durable.WorkflowHandle("ghost")])

    async def aio() -> Any:
        return await durable.wait_first_async([slow, quick])

    assert asyncio.run(aio()) is quick


# ---------------------------------------------------------------- run_step, timeouts, status


def test_run_step_records_any_function_as_a_step():
    SEEN.clear()
    assert run(uses_run_step, "adhoc", 3) == 14
    assert [
        name
        for _, name in StepOutput.objects.filter(run_id="adhoc")
        .order_by("step_number")
        .values_list("step_number", "step_name")
    ] == ["doubled", "doubled"]
    fork = durable.fork_workflow("adhoc", 3)
    run_until_idle()
    assert fork.get_result(timeout=5) == 14
    assert SEEN == [3, 4]  # replayed, not called again
    assert durable.run_step(doubled, 5) == 10  # outside a workflow: a plain call
    with pytest.raises(durable.InvalidStateError, match="run_step_async"):
        durable.run_step(async_doubled, 1)


def test_dbos_run_step_takes_step_options():
    assert run(dbos_run_step, "dbos-adhoc", 2) == 4
    assert StepOutput.objects.get(run_id="dbos-adhoc").step_name == "doubling"
    with pytest.raises(durable.ConfigurationError, match="'bogus'"):
        DBOS.run_step({"bogus": 1}, doubled, 1)


def test_run_step_async():
    async def go() -> int:
        with durable.SetWorkflowID("adhoc-async"):
            return int(await async_run_step(5))

    assert asyncio.run(go()) == 20
    assert StepOutput.objects.filter(run_id="adhoc-async").count() == 2


def run_async(workflow_id: str, which: str) -> Any:
    async def go() -> Any:
        with durable.SetWorkflowID(workflow_id):
            return await timing_out(which)

    return asyncio.run(go())


def test_an_async_step_past_its_timeout_is_cancelled_and_fails():
    with pytest.raises(durable.StepTimeout, match="too_slow"):
        run_async("slow", "slow")
    step = StepOutput.objects.get(run_id="slow")
    assert "StepTimeout" in str(step.error)
    assert WorkflowRun.objects.get(pk="slow").status == RunStatus.ERROR
    with pytest.raises(TimeoutError, match="mine") as caught:
        run_async("own", "own")
    assert not isinstance(caught.value, durable.StepTimeout)


def test_each_retry_of_a_step_gets_a_fresh_timeout():
    ATTEMPTS.clear()
    assert run_async("retried", "retry") == "fast"
    assert ATTEMPTS == [0, 1, 2]


def test_a_sync_step_cannot_have_a_timeout():
    with pytest.raises(durable.ConfigurationError, match="async def"):

        @durable.step(timeout_seconds=1)
        def sync_step() -> None: ...

    with pytest.raises(durable.ConfigurationError, match="timeout_seconds"):
        durable.step(timeout_seconds=0)


def test_step_status_inside_steps_with_and_without_retries():
    SEEN.clear()
    plain, retried, in_body = run(status_workflow, "statuses")
    assert plain == [1, None, None]
    assert retried == [2, 2, 3]
    assert [(s.step_id, s.current_attempt, s.max_attempts) for s in SEEN] == [
        (2, 0, 3),
        (2, 1, 3),
        (2, 2, 3),
    ]
    assert in_body is None  # the workflow's body is not a step
    assert durable.step_status() is None


# ---------------------------------------------------------------- async schedule API


def test_async_schedule_functions():
    async def go() -> list[Any]:
        created = await durable.create_schedule_async(
            schedule_name="aio-sched",
            workflow_fn=workflows.backup_database,
            schedule="0 2 * * *",
            context={"backup_name": "x"},
        )
        paused = await durable.pause_schedule_async("aio-sched")
        got = await durable.get_schedule_async("aio-sched")
        listed = await durable.list_schedules_async(status="PAUSED")
        resumed = await durable.resume_schedule_async("aio-sched")
        handle = await durable.trigger_schedule_async("aio-sched")
        applied = await durable.apply_schedules_async(
            [
                {
                    "schedule_name": "aio-sched",
                    "workflow_fn": workflows.backup_database,
                    "schedule": "0 3 * * *",
                }
            ]
        )
        handles = await durable.backfill_schedule_async(
            "aio-sched", timezone.now() - timedelta(days=2), timezone.now()
        )
        deleted = await durable.delete_schedule_async("aio-sched")
        return [
            created["schedule_name"],
            paused,
            got["status"] if got else None,
            [s["schedule_name"] for s in listed],
            resumed,
            handle.workflow_id.startswith("sched-aio-sched-trigger-"),
            applied[0]["schedule"],
            len(handles),
            deleted,
        ]

    assert asyncio.run(go()) == [
        "aio-sched",
        True,
        "PAUSED",
        ["aio-sched"],
        True,
        True,
        "0 3 * * *",
        2,
        True,
    ]
