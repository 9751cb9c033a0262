"""The engine at its edges: concurrent async steps, threads, hostile stored data, errors
that must not stop a process, recovery, and the calls recorded inside workflows."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test import override_settings
from django.utils import timezone

import django_durable as durable
from django_durable import error_records, registry, serialization
from django_durable.engine import recovery, runtime
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.testing import run_until_idle
from tests import workflows
from tests.helpers import step_rows
from tests.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

DEAD = "dead-executor"


def run_async(workflow_id: str, fn: Callable[..., Any], *args: Any) -> Any:
    async def main() -> Any:
        with durable.SetWorkflowID(workflow_id):
            return await fn(*args)

    return asyncio.run(main())


def events(label: str) -> list[int]:
    return sorted(Event.objects.filter(label=label).values_list("value", flat=True))


def leave_pending(workflow_id: str, *, keep_steps: int, executor_id: str = DEAD) -> None:
    """Make a finished run look like its process died after ``keep_steps`` steps."""
    StepOutput.objects.filter(run_id=workflow_id, step_number__gt=keep_steps).delete()
    assert WorkflowRun.objects.filter(pk=workflow_id).update(
        status=RunStatus.PENDING,
        output=None,
        error=None,
        completed_at=None,
        executor_id=executor_id,
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# ---------------------------------------------------------------- concurrent async steps


@pytest.mark.parametrize("workflow", [workflows.gathers_three, workflows.task_group_three])
def test_concurrent_async_steps_are_each_numbered_in_call_order_and_recorded(workflow):
    result = run_async("gather-1", workflow, "gather-1")
    assert result[:3] == [10, 20, 30]
    names = step_rows("gather-1")
    assert [number for number, _ in names] == list(range(1, len(result) + 1))
    outputs = dict(
        StepOutput.objects.filter(run_id="gather-1").values_list("step_number", "output")
    )
    # Step n is the call with value n, whichever finished first.
    assert {n: serialization.loads(out) for n, out in outputs.items()} == {
        n: n * 10 for n in range(1, len(result) + 1)
    }


def test_a_gathered_run_recovered_after_two_steps_runs_only_the_missing_ones():
    assert run_async("gather-2", workflows.gathers_three, "gather-2") == [10, 20, 30, 40]
    # As if the process died once steps 1 and 2 (not 3) had been recorded.
    leave_pending("gather-2", keep_steps=2)
    StepOutput.objects.filter(run_id="gather-2", step_number=4).delete()
    before = dict(workflows.CALLS)

    handles = durable.recover_pending_workflows([DEAD])

    assert handles == [durable.WorkflowHandle("gather-2")]
    assert handles[0].get_result(timeout=10) == [10, 20, 30, 40]
    ran = {key: workflows.CALLS[key] - before.get(key, 0) for key in workflows.CALLS}
    assert {k: v for k, v in ran.items() if v} == {"gathered_step:3": 1, "gathered_step:4": 1}
    assert [n for n, _ in step_rows("gather-2")] == [1, 2, 3, 4]


def test_a_step_in_a_thread_started_without_the_workflows_context_is_refused():
    with durable.SetWorkflowID("plain-thread"):
        outcome = workflows.step_in_a_plain_thread(1)
    assert outcome.startswith("InvalidStateError: A durable function was called in a thread")
    assert "plain-thread" in outcome and "copy_context" in outcome
    assert workflows.CALLS["add_one"] == 0  # never a silent plain call
    assert step_rows("plain-thread") == []


def test_a_step_in_a_thread_started_with_the_workflows_context_is_recorded():
    with durable.SetWorkflowID("ctx-thread"):
        assert workflows.step_in_a_thread_with_context(1) == [2, 2]
    assert step_rows("ctx-thread") == [(1, "add_one"), (2, "double")]


# ---------------------------------------------------------------- hostile stored data


def enqueued_row(workflow_id: str, inputs: str, **fields: Any) -> WorkflowRun:
    now = timezone.now()
    fields.setdefault("name", "three_steps")
    return WorkflowRun.objects.create(
        workflow_id=workflow_id,
        status=RunStatus.ENQUEUED,
        inputs=inputs,
        queue_name="queues-plain",
        created_at=now,
        updated_at=now,
        **fields,
    )


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ('{"args": [{"__durable__": "no-such-tag", "v": 1}], "kwargs": {}}', "no-such-tag"),
        ('{"args": [1], "kwargs"', "cannot be decoded"),
        ('{"args": 1, "kwargs": {}}', "are not"),
        ("[1, 2]", "are not"),
    ],
)
def test_a_queued_run_whose_inputs_cannot_be_decoded_ends_error(inputs, fragment):
    enqueued_row("bad-inputs", inputs)
    assert run_until_idle(queues=["queues-plain"]) == 1
    run = WorkflowRun.objects.get(pk="bad-inputs")
    assert run.status == RunStatus.ERROR
    kind, message = error_records.error_summary(run.error) or ("", "")
    assert kind.endswith("Unrunnable") and fragment in message, message
    assert workflows.CALLS["add_one"] == 0
    # Fixed by hand, the run is resumed like any failed one.
    WorkflowRun.objects.filter(pk="bad-inputs").update(
        inputs=serialization.dumps({"args": [1], "kwargs": {}})
    )
    durable.resume_workflow("bad-inputs")
    run_until_idle()
    assert durable.retrieve_workflow("bad-inputs").get_result(timeout=5) == "value=4"


def test_a_queued_instance_run_without_its_configured_instance_ends_error():
    enqueued_row(
        "no-instance",
        serialization.dumps({"args": [], "kwargs": {}}),
        name="URLFetcher.fetch_workflow",
        class_name="URLFetcher",
        config_name="https://only-in-the-enqueuer.example",
    )
    run_until_idle(queues=["queues-plain"])
    run = WorkflowRun.objects.get(pk="no-instance")
    assert run.status == RunStatus.ERROR
    assert "https://only-in-the-enqueuer.example" in str(error_records.error_summary(run.error))


def test_a_pending_run_with_an_empty_id_is_not_run_again_but_ends_error():
    now = timezone.now()
    WorkflowRun.objects.create(
        workflow_id="",
        name="three_steps",
        status=RunStatus.PENDING,
        inputs=serialization.dumps({"args": [1], "kwargs": {}}),
        executor_id=DEAD,
        created_at=now,
        updated_at=now,
    )
    assert durable.recover_pending_workflows([DEAD]) == []
    run = WorkflowRun.objects.get(pk="")
    assert run.status == RunStatus.ERROR
    assert "empty workflow id" in str(error_records.error_summary(run.error))
    assert workflows.CALLS["add_one"] == 0


@pytest.mark.parametrize("stopper", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_a_stored_error_of_a_process_stopping_type_comes_back_as_recorded_error(stopper):
    with durable.SetWorkflowID("stopper"):
        workflows.three_steps(1)
    WorkflowRun.objects.filter(pk="stopper").update(
        status=RunStatus.ERROR, output=None, error=error_records.encode_exception(stopper)
    )
    with pytest.raises(durable.RecordedError) as caught:
        durable.retrieve_workflow("stopper").get_result()
    assert caught.value.type_path.endswith(type(stopper).__name__)
    assert isinstance(durable.retrieve_workflow("stopper").get_status().error, Exception)


def test_a_replayed_step_that_recorded_a_system_exit_fails_the_run_instead_of_stopping():
    with durable.SetWorkflowID("step-exit"):
        workflows.three_steps(1)
    leave_pending("step-exit", keep_steps=2)
    StepOutput.objects.filter(run_id="step-exit", step_number=2).update(
        output=None, error=error_records.encode_exception(SystemExit(1))
    )
    [handle] = durable.recover_pending_workflows([DEAD])
    with pytest.raises(durable.RecordedError):
        handle.get_result(timeout=10)
    assert WorkflowRun.objects.get(pk="step-exit").status == RunStatus.ERROR


# ---------------------------------------------------------------- calls recorded in workflows


def test_reads_of_other_runs_inside_a_workflow_are_recorded_and_replayed():
    with durable.SetWorkflowID("read-target"):
        workflows.three_steps(1)
    with durable.SetWorkflowID("reader"):
        first = workflows.reads_another_run("read-target")
    assert first == {"status": "SUCCESS", "result": "value=4", "listed": ["SUCCESS"]}
    assert step_rows("reader") == [
        (1, "durable.get_status"),
        (2, "durable.list_workflows"),
        (3, "durable.get_result"),
    ]
    # The world changes; a replay sees what the first execution saw.
    WorkflowRun.objects.filter(pk="read-target").update(status=RunStatus.CANCELLED)
    WorkflowRun.objects.filter(pk="reader").update(status=RunStatus.CANCELLED)
    durable.resume_workflow("reader")
    run_until_idle()
    assert durable.retrieve_workflow("reader").get_result(timeout=5) == first


def test_a_refused_enqueue_inside_a_workflow_is_recorded_and_replayed():
    with durable.SetWorkflowID("dedup-parent"):
        outcome = workflows.enqueues_a_duplicate("once")
    assert outcome.startswith("refused:")
    rows = StepOutput.objects.filter(run_id="dedup-parent").order_by("step_number")
    assert [(r.step_number, r.error is not None) for r in rows] == [(1, False), (2, True)]
    assert WorkflowRun.objects.filter(queue_name="queues-dedup-in-workflow").count() == 1
    # A replay meets the recorded refusal: nothing is enqueued again.
    WorkflowRun.objects.filter(queue_name="queues-dedup-in-workflow").update(
        status=RunStatus.SUCCESS
    )  # (the duplicate would be accepted now)
    WorkflowRun.objects.filter(pk="dedup-parent").update(status=RunStatus.CANCELLED)
    durable.resume_workflow("dedup-parent")
    run_until_idle(queues=[])
    assert durable.retrieve_workflow("dedup-parent").get_result(timeout=5) == outcome
    assert WorkflowRun.objects.filter(queue_name="queues-dedup-in-workflow").count() == 1


def test_enqueue_options_around_start_workflow_are_refused_before_anything_is_written():
    with (
        durable.SetEnqueueOptions(priority=1),
        pytest.raises(durable.InvalidStateError, match="SetEnqueueOptions"),
    ):
        durable.start_workflow(workflows.three_steps, 1)
    assert WorkflowRun.objects.count() == 0


def test_an_id_reused_for_the_same_method_on_another_configured_instance_conflicts():
    with durable.SetWorkflowID("fetch-id"):
        assert workflows.example_fetcher.fetch_workflow() == "Content from https://example.com"
    with (
        durable.SetWorkflowID("fetch-id"),
        pytest.raises(durable.WorkflowConflict, match=r"https://example\.org"),
    ):
        workflows.other_fetcher.fetch_workflow()
    with durable.SetWorkflowID("fetch-id"):  # the same instance gets the recorded result
        assert workflows.example_fetcher.fetch_workflow() == "Content from https://example.com"


# ---------------------------------------------------------------- transactions


def test_a_sql_error_in_a_transaction_is_the_steps_outcome_not_an_interruption():
    with durable.SetWorkflowID("bad-sql"), pytest.raises(Exception) as caught:
        workflows.runs_bad_sql()
    assert not isinstance(caught.value, durable.ExecutionInterrupted)
    run = WorkflowRun.objects.get(pk="bad-sql")
    assert run.status == RunStatus.ERROR
    assert [r.error is not None for r in StepOutput.objects.filter(run_id="bad-sql")] == [True]
    assert workflows.SQL_ERROR_ATTEMPTS["bad_sql"] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL serialization")
def test_a_serialization_failure_in_a_transaction_is_retried_in_place():
    workflows.SQL_ERROR_ATTEMPTS.clear()
    with durable.SetWorkflowID("conflict-2"):
        assert workflows.retries_a_conflict("conflict-2", 2) == 3
    assert events("conflict-2") == [3]  # the two failed attempts rolled back
    assert WorkflowRun.objects.get(pk="conflict-2").recovery_attempts == 0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL serialization")
def test_a_transaction_that_keeps_conflicting_records_the_error_after_its_retries():
    workflows.SQL_ERROR_ATTEMPTS.clear()
    with durable.SetWorkflowID("conflict-99"), pytest.raises(Exception, match="simulated"):
        workflows.retries_a_conflict("conflict-99", 99)
    assert workflows.SQL_ERROR_ATTEMPTS["conflict-99"] == 9  # the first try and 8 retries
    assert WorkflowRun.objects.get(pk="conflict-99").status == RunStatus.ERROR
    assert events("conflict-99") == []


# ---------------------------------------------------------------- recovery


def test_recovering_runs_this_process_is_executing_returns_handles_without_running_twice():
    with durable.SetWorkflowID("live-here"):
        handle = durable.start_workflow(workflows.waits_for_gate, 1)
    wait_until(lambda: StepOutput.objects.filter(run_id="live-here").exists())

    handles = durable.recover_pending_workflows()

    assert handles == [handle]
    workflows.GATE.set()
    assert handles[0].get_result(timeout=10) == 3
    assert workflows.CALLS["add_one"] == 2  # once per step: nothing ran twice
    assert WorkflowRun.objects.get(pk="live-here").recovery_attempts == 0


def test_recovering_a_queued_run_puts_it_back_on_its_queue():
    handle = workflows.QUEUE_PER_WORKER.enqueue(workflows.three_steps, 1)
    WorkflowRun.objects.filter(pk=handle.workflow_id).update(
        status=RunStatus.PENDING, executor_id=DEAD, started_at=timezone.now()
    )
    assert durable.recover_pending_workflows([DEAD]) == [handle]
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    # Not executed at once past the queue's limits: enqueued on its own queue again.
    assert (run.status, run.queue_name, run.recovery_attempts) == (
        RunStatus.ENQUEUED,
        "queues-per-worker",
        1,
    )
    assert workflows.CALLS["add_one"] == 0
    run_until_idle(queues=["queues-per-worker"])
    assert handle.get_result(timeout=5) == "value=4"


def test_a_workflow_without_a_recovery_limit_is_recovered_however_often():
    with durable.SetWorkflowID("no-limit"):
        workflows.recovered_without_limit(1)
    leave_pending("no-limit", keep_steps=0)
    WorkflowRun.objects.filter(pk="no-limit").update(recovery_attempts=10_000)
    assert recovery.recover_dead(timezone.now(), 0.0) == ["no-limit"]
    assert WorkflowRun.objects.get(pk="no-limit").status == RunStatus.ENQUEUED


def test_a_worker_sharing_the_runtime_never_takes_a_run_it_started_for_a_leftover():
    shared = runtime.current()
    for i in range(20):
        with durable.SetWorkflowID(f"fresh-{i}"):
            durable.start_workflow(workflows.three_steps, i)
        assert recovery.requeue_leftovers(shared) == []
    for i in range(20):
        assert durable.retrieve_workflow(f"fresh-{i}").get_result(timeout=10)
    assert WorkflowRun.objects.filter(recovery_attempts__gt=0).count() == 0


# ---------------------------------------------------------------- decorators


def test_step_and_transaction_cannot_be_stacked(clean_registry):
    def body() -> None:
        return None

    with pytest.raises(durable.RegistrationError, match="cannot be stacked"):
        durable.step()(durable.transaction()(body))
    with pytest.raises(durable.RegistrationError, match="cannot be stacked"):
        durable.transaction()(durable.step()(body))
    with pytest.raises(durable.RegistrationError, match="cannot be stacked"):
        durable.workflow()(durable.step()(body))


def test_a_second_workflow_with_the_same_name_in_one_module_warns(clean_registry, caplog):
    def first() -> int:
        return 1

    def second() -> int:
        return 2

    with caplog.at_level(logging.WARNING, logger="django_durable.registry"):
        durable.workflow(name="twice-in-one-module")(first)
        durable.workflow(name="twice-in-one-module")(second)
    assert "registered twice" in caplog.text
    assert registry.get_workflow("twice-in-one-module").func is second


def test_an_async_should_retry_is_awaited_for_async_steps():
    assert run_async("async-retry", workflows.async_picky_workflow, "value") == "value after 3"
    with pytest.raises(KeyError):
        run_async("async-no-retry", workflows.async_picky_workflow, "key")
    assert workflows.ATTEMPTS["async_picky:key"] == 1  # the coroutine said no: not retried


def test_an_async_should_retry_on_a_sync_step_is_refused():
    async def decide(exc: BaseException) -> bool:
        return True

    with pytest.raises(durable.ConfigurationError, match="async"):

        @durable.step(retries_allowed=True, should_retry=decide)
        def sync_step() -> None:
            return None


# ---------------------------------------------------------------- async drivers


def test_the_async_drivers_work_inside_and_outside_a_workflow():
    result = run_async("async-drivers", workflows.async_starts_and_reads, 4)
    assert result == ["async-drivers-1", 5, ["SUCCESS"]]

    async def outside() -> list[Any]:
        handle = await durable.start_workflow_async(workflows.child, 7)
        again = await durable.retrieve_workflow_async(handle.workflow_id)
        listed = await durable.list_workflows_async(workflow_ids=[handle.workflow_id])
        return [await again.get_result_async(timeout=10), len(listed)]

    assert asyncio.run(outside()) == [8, 1]


def test_a_blocked_thread_sensitive_call_does_not_stall_an_async_workflow():
    """Django's sync_to_async runs thread-sensitive calls on one shared thread; the engine's
    own database work must not queue behind a slow one."""
    release = threading.Event()
    blocked = threading.Event()

    def slow() -> None:
        blocked.set()
        release.wait(20)

    blocker = threading.Thread(target=lambda: asyncio.run(sync_to_async(slow)()), daemon=True)
    blocker.start()
    assert blocked.wait(5)
    try:
        handle = workflows.QUEUE_PLAIN.enqueue(workflows.async_workflow, 1)
        run_until_idle(queues=["queues-plain"])
        assert handle.get_result(timeout=1) == [11, 12, 12]
    finally:
        release.set()
        blocker.join(10)


# ---------------------------------------------------------------- held checkpoints


def test_a_held_checkpoint_becomes_durable_while_the_body_waits_between_steps():
    with durable.SetWorkflowID("held-then-flushed"):
        durable.start_workflow(workflows.waits_for_gate, 1)
    # Step 1 ended and the body waits: the flusher writes step 1 within its hold time.
    wait_until(lambda: step_rows("held-then-flushed") == [(1, "add_one")], timeout=5)
    workflows.GATE.set()
    assert durable.retrieve_workflow("held-then-flushed").get_result(timeout=10) == 3


@override_settings(DURABLE={"CHECKPOINT_HOLD": 60.0})
def test_a_cancel_records_the_checkpoint_still_held_so_a_resume_does_not_rerun_it():
    with durable.SetWorkflowID("held-cancel"):
        handle = durable.start_workflow(workflows.waits_for_gate, 1)
    wait_until(lambda: workflows.CALLS["add_one"] == 1)
    assert step_rows("held-cancel") == []  # held (for up to 60 s): nothing written yet
    assert durable.cancel_workflow("held-cancel") is True
    workflows.GATE.set()
    with pytest.raises(durable.WorkflowCancelled):
        handle.get_result(timeout=10)
    wait_until(lambda: runtime.current().active("held-cancel") is None)
    assert step_rows("held-cancel") == [(1, "add_one")]

    durable.resume_workflow("held-cancel")
    run_until_idle()
    assert handle.get_result(timeout=10) == 3
    assert workflows.CALLS["add_one"] == 2  # step 1 once, step 2 once


# ---------------------------------------------------------------- schedules in workflows


def test_schedule_calls_inside_a_workflow_are_recorded_and_replayed():
    from django_durable.models import WorkflowSchedule

    with durable.SetWorkflowID("schedule-manager"):
        first = workflows.manages_a_schedule("managed")
    assert first == ["ACTIVE", 1, True, "PAUSED"]
    assert step_rows("schedule-manager") == [
        (1, "durable.create_schedule"),
        (2, "durable.list_schedules"),
        (3, "durable.pause_schedule"),
        (4, "durable.get_schedule"),
    ]
    # Replayed after the world changed: the recorded values come back, nothing is written.
    WorkflowSchedule.objects.filter(schedule_name="managed").delete()
    WorkflowRun.objects.filter(pk="schedule-manager").update(status=RunStatus.CANCELLED)
    durable.resume_workflow("schedule-manager")
    run_until_idle()
    assert durable.retrieve_workflow("schedule-manager").get_result(timeout=5) == first
    assert not WorkflowSchedule.objects.filter(schedule_name="managed").exists()


def test_apply_backfill_and_trigger_are_refused_inside_a_workflow():
    durable.create_schedule(
        schedule_name="triggered", workflow_fn=workflows.scheduled_report, schedule="0 0 * * *"
    )
    with (
        durable.SetWorkflowID("trigger-inside"),
        pytest.raises(durable.InvalidStateError, match="trigger_schedule"),
    ):
        workflows.triggers_a_schedule("triggered")
    assert WorkflowRun.objects.filter(schedule_name="triggered").count() == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"limit": 10**20}, "limit"), ({"limit": -1}, "limit"), ({"offset": 2**40}, "offset")],
)
def test_list_workflows_refuses_a_limit_or_offset_out_of_range(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        durable.list_workflows(**kwargs)
