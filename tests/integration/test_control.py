"""Operations on stored runs: cancel, resume, fork and list."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable import queues, serialization
from django_durable.engine import runtime
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.testing import run_until_idle
from tests import workflows
from tests.helpers import step_rows

# Runs execute on background threads with their own connections: commits must be real.
pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def wait_for_thread_of(workflow_id: str) -> None:
    """Wait until no thread of this process executes ``workflow_id`` any more (a thread
    executing a run in the background is named after it meanwhile)."""
    wait_until(lambda: runtime.current().active(workflow_id) is None)
    wait_until(lambda: all(t.name != f"durable-{workflow_id}" for t in threading.enumerate()))


def start_gated(workflow_id: str) -> durable.WorkflowHandle:
    """Start ``waits_for_gate(1)`` and wait until its first step is recorded."""
    with durable.SetWorkflowID(workflow_id):
        handle = durable.start_workflow(workflows.waits_for_gate, 1)
    wait_until(lambda: StepOutput.objects.filter(run_id=workflow_id).exists())
    return handle


def cancel_running(workflow_id: str) -> durable.WorkflowHandle:
    """A ``waits_for_gate`` run cancelled after step 1, its thread finished."""
    handle = start_gated(workflow_id)
    assert durable.cancel_workflow(workflow_id) is True
    workflows.GATE.set()
    wait_for_thread_of(workflow_id)
    return handle


# ---------------------------------------------------------------- cancel


def test_cancelling_a_running_run_stops_it_before_its_next_step():
    handle = start_gated("cancel-me")
    assert WorkflowRun.objects.get(pk="cancel-me").status == RunStatus.PENDING
    assert durable.cancel_workflow("cancel-me") is True
    assert WorkflowRun.objects.get(pk="cancel-me").status == RunStatus.CANCELLED
    workflows.GATE.set()
    wait_for_thread_of("cancel-me")
    run = WorkflowRun.objects.get(pk="cancel-me")
    assert run.status == RunStatus.CANCELLED
    assert run.output is None and run.completed_at is not None
    assert step_rows("cancel-me") == [(1, "add_one")]
    assert workflows.CALLS["add_one"] == 1  # the second step's body never ran
    with pytest.raises(durable.WorkflowCancelled, match="'cancel-me'"):
        handle.get_result(timeout=5)
    assert handle.get_status().status == RunStatus.CANCELLED


def test_a_run_cancelled_from_elsewhere_stops_at_its_next_checkpoint():
    """Another process cancels by updating the row: this process notices at the next write."""
    handle = start_gated("cancel-row")
    WorkflowRun.objects.filter(pk="cancel-row").update(status=RunStatus.CANCELLED)
    workflows.GATE.set()
    wait_for_thread_of("cancel-row")
    # Its second step ran before the run could notice (nothing is read before a step):
    # the step is recorded all the same, so resuming the run does not run it again.
    assert step_rows("cancel-row") == [(1, "add_one"), (2, "add_one")]
    assert workflows.CALLS["add_one"] == 2
    assert WorkflowRun.objects.get(pk="cancel-row").status == RunStatus.CANCELLED
    with pytest.raises(durable.WorkflowCancelled):
        handle.get_result(timeout=5)


def test_cancelling_a_finished_run_returns_false_and_changes_nothing():
    with durable.SetWorkflowID("done"):
        workflows.three_steps(1)
    before = WorkflowRun.objects.filter(pk="done").values().get()
    assert durable.cancel_workflow("done") is False
    assert WorkflowRun.objects.filter(pk="done").values().get() == before
    assert durable.retrieve_workflow("done").get_result() == "value=4"


def test_cancelling_a_failed_run_returns_false_and_keeps_its_error():
    with durable.SetWorkflowID("failed"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(3)
    assert durable.cancel_workflow("failed") is False
    assert WorkflowRun.objects.get(pk="failed").status == RunStatus.ERROR


def test_cancelling_an_unknown_id_raises_lookup_error():
    with pytest.raises(LookupError, match="'no-such-run'"):
        durable.cancel_workflow("no-such-run")
    assert WorkflowRun.objects.count() == 0


# ---------------------------------------------------------------- resume


def test_resuming_a_cancelled_run_completes_it_without_rerunning_recorded_steps():
    cancel_running("resume-me")
    assert workflows.CALLS["add_one"] == 1
    handle = durable.resume_workflow("resume-me")
    assert handle.workflow_id == "resume-me"
    run = WorkflowRun.objects.get(pk="resume-me")
    assert (run.status, run.queue_name, run.executor_id, run.completed_at) == (
        RunStatus.ENQUEUED,
        queues.INTERNAL_QUEUE_NAME,
        None,
        None,
    )
    assert run_until_idle() == 1
    assert handle.get_result(timeout=10) == 3
    assert workflows.CALLS["add_one"] == 2  # step 1 replayed, step 2 ran once
    assert step_rows("resume-me") == [(1, "add_one"), (2, "add_one")]
    run = WorkflowRun.objects.get(pk="resume-me")
    assert run.status == RunStatus.SUCCESS
    assert serialization.loads(run.output) == 3


def test_resuming_right_after_cancelling_a_run_still_executing_completes_it():
    """Resume while the cancelled run's thread has not reached its next step yet.

    The old thread stops at its next step; the resumed run must still be executed, not
    left PENDING with nobody running it.
    """
    handle = start_gated("quick-resume")
    assert durable.cancel_workflow("quick-resume") is True
    durable.resume_workflow("quick-resume")  # the old thread still waits on the gate
    workflows.GATE.set()
    assert run_until_idle() == 1
    try:
        result = handle.get_result(timeout=10)
    except durable.WorkflowTimeout:
        wait_for_thread_of("quick-resume")
        run = WorkflowRun.objects.get(pk="quick-resume")
        pytest.fail(
            f"the resumed run was never executed: status {run.status}, executor "
            f"{run.executor_id}, steps {step_rows('quick-resume')}, "
            f"add_one ran {workflows.CALLS['add_one']} time(s)"
        )
    assert result == 3
    assert step_rows("quick-resume") == [(1, "add_one"), (2, "add_one")]
    assert workflows.CALLS["add_one"] == 2


def test_resuming_a_failed_run_runs_it_again_from_its_recorded_steps():
    with durable.SetWorkflowID("retry-me"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(9)
    handle = durable.resume_workflow("retry-me")
    run_until_idle()
    # The failing step's error is recorded: replay re-raises it without running it.
    with pytest.raises(workflows.PaymentDeclined, match="declined 9"):
        handle.get_result(timeout=10)
    assert workflows.CALLS["decline"] == 1
    assert WorkflowRun.objects.get(pk="retry-me").status == RunStatus.ERROR


def test_resuming_a_successful_run_is_an_invalid_state():
    with durable.SetWorkflowID("ok"):
        workflows.three_steps(1)
    before = WorkflowRun.objects.filter(pk="ok").values().get()
    with pytest.raises(durable.InvalidStateError, match="'ok'"):
        durable.resume_workflow("ok")
    assert WorkflowRun.objects.filter(pk="ok").values().get() == before


def test_resuming_an_unknown_id_raises_lookup_error():
    with pytest.raises(LookupError, match="'ghost'"):
        durable.resume_workflow("ghost")
    assert WorkflowRun.objects.count() == 0


# ---------------------------------------------------------------- fork


def test_fork_keeps_steps_before_start_step_and_reruns_the_rest():
    with durable.SetWorkflowID("original"):
        workflows.three_steps(1)
    workflows.CALLS.clear()
    handle = durable.fork_workflow("original", start_step=2)
    assert handle.workflow_id != "original"
    forked = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (forked.status, forked.queue_name, forked.executor_id) == (
        RunStatus.ENQUEUED,
        queues.INTERNAL_QUEUE_NAME,
        None,
    )
    assert run_until_idle() == 1
    assert handle.get_result(timeout=10) == "value=4"
    assert workflows.CALLS == {"double": 1, "to_text": 1}
    assert step_rows(handle.workflow_id) == [(1, "add_one"), (2, "double"), (3, "to_text")]
    copied = StepOutput.objects.get(run_id=handle.workflow_id, step_number=1)
    source = StepOutput.objects.get(run_id="original", step_number=1)
    assert (copied.output, copied.completed_at) == (source.output, source.completed_at)
    forked = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (forked.name, forked.status, forked.inputs) == (
        "three_steps",
        RunStatus.SUCCESS,
        WorkflowRun.objects.get(pk="original").inputs,
    )
    # The source run is untouched.
    assert step_rows("original") == [(1, "add_one"), (2, "double"), (3, "to_text")]
    assert WorkflowRun.objects.count() == 2


def test_fork_replays_the_copied_step_values():
    with durable.SetWorkflowID("src"):
        workflows.three_steps(1)
    # A value the body could not compute proves the forked run used the copied step.
    StepOutput.objects.filter(run_id="src", step_number=1).update(output=serialization.dumps(50))
    with durable.SetWorkflowID("fork-of-src"):
        handle = durable.fork_workflow("src", start_step=2)
    assert handle.workflow_id == "fork-of-src"
    run_until_idle()
    assert handle.get_result(timeout=10) == "value=100"


def test_fork_from_step_one_reruns_every_step():
    with durable.SetWorkflowID("src-1"):
        workflows.three_steps(2)
    workflows.CALLS.clear()
    handle = durable.fork_workflow("src-1", 1)
    run_until_idle()
    assert handle.get_result(timeout=10) == "value=6"
    assert workflows.CALLS == {"add_one": 1, "double": 1, "to_text": 1}


@pytest.mark.parametrize("bad", [0, -1, "2", 2.0, True, None])
def test_fork_with_a_bad_start_step_is_a_value_error_and_writes_nothing(bad):
    with durable.SetWorkflowID("src-bad"):
        workflows.three_steps(1)
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        durable.fork_workflow("src-bad", bad)
    assert list(WorkflowRun.objects.values_list("pk", flat=True)) == ["src-bad"]


def test_fork_of_an_unknown_id_raises_lookup_error():
    with pytest.raises(LookupError, match="'ghost'"):
        durable.fork_workflow("ghost", 1)
    assert WorkflowRun.objects.count() == 0


def test_fork_into_an_existing_id_is_a_clear_error_and_changes_nothing():
    with durable.SetWorkflowID("fork-a"):
        workflows.three_steps(1)
    with durable.SetWorkflowID("fork-b"):
        workflows.three_steps(2)
    before = list(WorkflowRun.objects.order_by("pk").values())
    steps_before = list(StepOutput.objects.order_by("pk").values())
    with durable.SetWorkflowID("fork-b"), pytest.raises(durable.DurableError, match="'fork-b'"):
        durable.fork_workflow("fork-a", 2)
    assert list(WorkflowRun.objects.order_by("pk").values()) == before
    assert list(StepOutput.objects.order_by("pk").values()) == steps_before


# ---------------------------------------------------------------- list


@pytest.fixture
def listed_runs():
    """Four finished runs, created a minute apart: l1, l2 (three_steps), l3 (ERROR), l4."""
    with durable.SetWorkflowID("l1"):
        workflows.three_steps(1)
    with durable.SetWorkflowID("l2"):
        workflows.three_steps(2)
    with durable.SetWorkflowID("l3"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(1)
    with durable.SetWorkflowID("l4"):
        workflows.named_workflow()
    base = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    for minute, workflow_id in enumerate(["l1", "l2", "l3", "l4"]):
        WorkflowRun.objects.filter(pk=workflow_id).update(
            created_at=base + timedelta(minutes=minute)
        )
    return base


def ids(statuses: list[durable.WorkflowStatus]) -> list[str]:
    return [s.workflow_id for s in statuses]


def test_list_workflows_returns_every_run_oldest_first(listed_runs):
    result = durable.list_workflows()
    assert ids(result) == ["l1", "l2", "l3", "l4"]
    assert [s.status for s in result] == ["SUCCESS", "SUCCESS", "ERROR", "SUCCESS"]
    assert result[0].name == "three_steps" and result[0].output == "value=4"
    assert result[0].input == {"args": [1], "kwargs": {}}
    assert isinstance(result[2].error, workflows.PaymentDeclined)


def test_list_workflows_filters_by_status(listed_runs):
    assert ids(durable.list_workflows(status="SUCCESS")) == ["l1", "l2", "l4"]
    assert ids(durable.list_workflows(status=RunStatus.ERROR)) == ["l3"]
    assert ids(durable.list_workflows(status=["ERROR", "CANCELLED"])) == ["l3"]
    assert ids(durable.list_workflows(status=["ERROR", "SUCCESS"])) == ["l1", "l2", "l3", "l4"]
    assert durable.list_workflows(status="PENDING") == []


def test_list_workflows_filters_by_name(listed_runs):
    assert ids(durable.list_workflows(name="three_steps")) == ["l1", "l2"]
    assert ids(durable.list_workflows(name=["renamed-workflow", "failing_workflow"])) == [
        "l3",
        "l4",
    ]
    assert durable.list_workflows(name="named_workflow") == []  # registered under its name=


def test_list_workflows_filters_by_creation_time(listed_runs):
    base = listed_runs
    minute = timedelta(minutes=1)
    assert ids(durable.list_workflows(start_time=base + minute)) == ["l2", "l3", "l4"]
    assert ids(durable.list_workflows(end_time=base + 2 * minute)) == ["l1", "l2"]
    assert ids(durable.list_workflows(start_time=base + minute, end_time=base + 3 * minute)) == [
        "l2",
        "l3",
    ]
    assert durable.list_workflows(start_time=base + 10 * minute) == []


def test_list_workflows_pages_with_limit_and_offset(listed_runs):
    assert ids(durable.list_workflows(limit=2)) == ["l1", "l2"]
    assert ids(durable.list_workflows(limit=2, offset=1)) == ["l2", "l3"]
    assert ids(durable.list_workflows(offset=3)) == ["l4"]
    assert ids(durable.list_workflows(limit=10, offset=2)) == ["l3", "l4"]
    assert durable.list_workflows(limit=0) == []


def test_list_workflows_sorts_newest_first_on_request(listed_runs):
    assert ids(durable.list_workflows(sort_desc=True)) == ["l4", "l3", "l2", "l1"]
    assert ids(durable.list_workflows(sort_desc=True, limit=2, offset=1)) == ["l3", "l2"]


def test_list_workflows_filters_by_id_and_combines_filters(listed_runs):
    assert ids(durable.list_workflows(workflow_ids=["l3", "l1", "nope"])) == ["l1", "l3"]
    assert durable.list_workflows(workflow_ids=[]) == []
    assert ids(durable.list_workflows(status="SUCCESS", name="three_steps", sort_desc=True)) == [
        "l2",
        "l1",
    ]
    assert ids(durable.list_workflows(workflow_ids=["l1", "l3"], status="SUCCESS")) == ["l1"]


# ---------------------------------------------------------------- resume on a queue


def test_resuming_an_enqueued_run_moves_it_to_the_internal_queue_past_its_queue_limits():
    with durable.SetEnqueueOptions(deduplication_id="only-one"):
        handle = workflows.QUEUE_SERIAL.enqueue(workflows.three_steps, 4)
    durable.resume_workflow(handle.workflow_id)
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (run.status, run.queue_name, run.deduplication_id) == (
        RunStatus.ENQUEUED,
        queues.INTERNAL_QUEUE_NAME,
        None,  # the deduplication id of its old queue is free again
    )
    # Served even by a worker given no queue of its own.
    assert run_until_idle(queues=[]) == 1
    assert handle.get_result(timeout=5) == "value=10"


def test_resuming_logs_and_is_idempotent_while_the_run_waits_on_the_internal_queue(caplog):
    cancel_running("twice")
    with caplog.at_level("INFO", logger="django_durable"):
        durable.resume_workflow("twice")
        durable.resume_workflow("twice")
    assert [r.message for r in caplog.records if "resumed" in r.message] == [
        "Workflow twice resumed",
        "Workflow twice resumed",
    ]
    assert WorkflowRun.objects.filter(pk="twice", status=RunStatus.ENQUEUED).count() == 1
    assert run_until_idle() == 1
    assert durable.retrieve_workflow("twice").get_result(timeout=5) == 3


def test_resuming_a_running_run_is_an_invalid_state_and_changes_nothing():
    start_gated("busy")
    wait_until(lambda: WorkflowRun.objects.filter(pk="busy").exists())
    before = WorkflowRun.objects.filter(pk="busy").values().get()
    with pytest.raises(durable.InvalidStateError, match="'busy' is running"):
        durable.resume_workflow("busy")
    assert WorkflowRun.objects.filter(pk="busy").values().get() == before
    workflows.GATE.set()
    wait_for_thread_of("busy")
