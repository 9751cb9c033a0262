"""Workflows and steps on a real database: ids, replay, errors, retries, transactions."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

import django_durable as durable
from django_durable import error_records, serialization
from django_durable.engine import steps
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.testing import run_until_idle
from tests import workflows
from tests.helpers import THREE_STEP_STATEMENTS, commits, step_rows
from tests.models import Event

# Runs execute on background threads with their own connections: commits must be real.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_call_records_the_run_and_each_step():
    with durable.SetWorkflowID("wf-1"):
        assert workflows.three_steps(1) == "value=4"
    run = WorkflowRun.objects.get(pk="wf-1")
    assert run.status == RunStatus.SUCCESS
    assert run.name == "three_steps"
    assert serialization.loads(run.inputs) == {"args": [1], "kwargs": {}}
    assert serialization.loads(run.output) == "value=4"
    assert run.started_at is not None and run.completed_at >= run.started_at
    assert step_rows("wf-1") == [(1, "add_one"), (2, "double"), (3, "to_text")]
    outputs = StepOutput.objects.filter(run_id="wf-1").order_by("step_number")
    assert [serialization.loads(s.output) for s in outputs] == [2, 4, "value=4"]


def test_without_an_id_each_call_is_a_new_run():
    workflows.three_steps(1)
    workflows.three_steps(1)
    assert WorkflowRun.objects.filter(name="three_steps").count() == 2
    assert workflows.CALLS["add_one"] == 2


def test_the_same_id_twice_runs_the_body_once_and_returns_the_recorded_result():
    with durable.SetWorkflowID("same"):
        first = workflows.three_steps(1)
    with durable.SetWorkflowID("same"):
        second = workflows.three_steps(1)
    assert first == second == "value=4"
    assert workflows.CALLS == {"add_one": 1, "double": 1, "to_text": 1}
    assert WorkflowRun.objects.count() == 1


def test_the_same_id_with_another_function_is_an_error_and_changes_nothing():
    with durable.SetWorkflowID("taken"):
        workflows.three_steps(1)
    with (
        durable.SetWorkflowID("taken"),
        pytest.raises(durable.WorkflowConflict, match=r"'taken'.*'three_steps'.*'sleeper'"),
    ):
        workflows.sleeper(0)
    run = WorkflowRun.objects.get(pk="taken")
    assert (run.name, run.status) == ("three_steps", RunStatus.SUCCESS)


def test_set_workflow_id_applies_to_the_next_start_only():
    with durable.SetWorkflowID("only-once"):
        workflows.three_steps(1)
        workflows.three_steps(2)
    assert WorkflowRun.objects.filter(pk="only-once").count() == 1
    assert WorkflowRun.objects.count() == 2


def test_an_empty_workflow_id_is_rejected():
    with pytest.raises(ValueError, match="non-empty"):
        durable.SetWorkflowID("")


def test_rich_values_round_trip_through_steps_and_the_run_output():
    with durable.SetWorkflowID("rich"):
        fresh = workflows.rich_workflow()
    replayed = durable.retrieve_workflow("rich").get_result()
    assert fresh == replayed
    assert replayed["amount"] == Decimal("10.50")
    assert replayed["pair"] == (1, 2) and isinstance(replayed["pair"], tuple)
    assert replayed["tags"] == {"a", "b"}


def test_keyword_arguments_are_recorded_and_replayed():
    with durable.SetWorkflowID("kw"):
        assert workflows.kwargs_workflow(1, c=(3, 4)) == [1, 2, (3, 4)]
    stored = serialization.loads(WorkflowRun.objects.get(pk="kw").inputs)
    assert stored == {"args": [1], "kwargs": {"c": (3, 4)}}


def test_inputs_that_are_not_json_fail_before_any_row_is_written():
    with pytest.raises(durable.SerializationError, match="object"):
        workflows.three_steps(object())
    assert WorkflowRun.objects.count() == 0


def test_a_step_error_is_recorded_and_replayed_as_the_original_type():
    with durable.SetWorkflowID("caught"):
        assert workflows.catches_step_error(5) == "handled: declined 5"
    step = StepOutput.objects.get(run_id="caught")
    assert step.output is None
    assert error_records.error_summary(step.error) == (
        "tests.workflows.PaymentDeclined",
        "declined 5",
    )
    # Replay from the recorded steps: the body of the step does not run again.
    WorkflowRun.objects.filter(pk="caught").update(status=RunStatus.CANCELLED)
    durable.resume_workflow("caught")
    run_until_idle()
    durable.retrieve_workflow("caught").get_result(timeout=10)
    assert workflows.CALLS["decline"] == 1


def test_a_failing_workflow_is_recorded_as_error_and_reraised():
    with durable.SetWorkflowID("fails"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(7)
    run = WorkflowRun.objects.get(pk="fails")
    assert run.status == RunStatus.ERROR
    with pytest.raises(workflows.PaymentDeclined, match="declined 7") as info:
        durable.retrieve_workflow("fails").get_result()
    assert "decline" in info.value.durable_traceback
    status = durable.retrieve_workflow("fails").get_status()
    assert isinstance(status.error, workflows.PaymentDeclined)


def test_a_step_output_that_is_not_json_fails_the_step_with_the_type_named():
    with durable.SetWorkflowID("bad-output"), pytest.raises(durable.SerializationError) as info:
        workflows.returns_unserialisable_from_step()
    assert "builtins.object" in str(info.value)
    step = StepOutput.objects.get(run_id="bad-output")
    assert step.error is not None and "builtins.object" in step.error
    assert WorkflowRun.objects.get(pk="bad-output").status == RunStatus.ERROR


def test_a_step_called_outside_a_workflow_is_a_plain_call():
    assert workflows.add_one(1) == 2
    assert workflows.write_event("plain", 3) == 3
    assert StepOutput.objects.count() == 0
    assert Event.objects.filter(label="plain").count() == 1


def test_workflow_and_step_ids_are_visible_inside_and_none_outside():
    assert durable.workflow_id() is None and durable.step_id() is None
    with durable.SetWorkflowID("ids"):
        result = workflows.ids_workflow()
    assert result == {"workflow": "ids", "step": ["ids", 1]}


def test_retries_until_success_without_pausing_after_the_last_attempt(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(steps, "pause_before_retry", lambda state, s: pauses.append(s))
    assert workflows.flaky_workflow(3) == "ok after 3"
    assert workflows.ATTEMPTS["flaky"] == 3
    assert pauses == [0.01, 0.02]


def test_retries_exhausted_raise_an_error_with_every_attempt(monkeypatch):
    pauses: list[float] = []
    monkeypatch.setattr(steps, "pause_before_retry", lambda state, s: pauses.append(s))
    with (
        durable.SetWorkflowID("exhausted"),
        pytest.raises(durable.MaxStepRetriesExceeded) as info,
    ):
        workflows.flaky_workflow(99)
    assert [str(e) for e in info.value.errors] == [f"attempt {n} failed" for n in (1, 2, 3)]
    assert all(isinstance(e, ConnectionError) for e in info.value.errors)
    assert pauses == [0.01, 0.02]  # no pause after the third and last attempt
    with pytest.raises(durable.MaxStepRetriesExceeded) as replayed:
        durable.retrieve_workflow("exhausted").get_result()
    assert [type(e) for e in replayed.value.errors] == [ConnectionError] * 3


def test_should_retry_false_stops_at_the_first_error(monkeypatch):
    monkeypatch.setattr(steps, "pause_before_retry", lambda state, s: None)
    with pytest.raises(ValueError, match="not worth retrying"):
        workflows.picky_workflow("value")
    assert workflows.ATTEMPTS["picky"] == 1
    with pytest.raises(durable.MaxStepRetriesExceeded):
        workflows.picky_workflow("connection")
    assert workflows.ATTEMPTS["picky"] == 1 + 5


def test_a_transaction_commits_its_body_and_checkpoint_together():
    with durable.SetWorkflowID("tx"):
        assert workflows.transaction_workflow("tx") == 3
    assert list(Event.objects.filter(label="tx").values_list("value", flat=True)) == [1, 2]
    assert step_rows("tx") == [(1, "write_event"), (2, "write_event")]


def test_a_failing_transaction_rolls_back_its_body_and_records_the_error():
    with durable.SetWorkflowID("tx-fail"):
        assert workflows.failing_transaction_workflow("rolled") == "caught"
    assert not Event.objects.filter(label="rolled").exists()
    step = StepOutput.objects.get(run_id="tx-fail")
    assert error_records.error_summary(step.error) == (
        "tests.workflows.PaymentDeclined",
        "rolled back",
    )


def test_replay_returns_recorded_steps_and_runs_only_the_rest():
    """A run that stopped after step 2 (as if its process died) finishes with step 3 only."""
    with durable.SetWorkflowID("resume-me"):
        workflows.three_steps(1)
    StepOutput.objects.filter(run_id="resume-me", step_number=3).delete()
    WorkflowRun.objects.filter(pk="resume-me").update(
        status=RunStatus.PENDING, output=None, executor_id="dead-executor"
    )
    workflows.CALLS.clear()
    (handle,) = durable.recover_pending_workflows(["dead-executor"])
    assert handle.get_result(timeout=10) == "value=4"
    assert workflows.CALLS == {"to_text": 1}
    run = WorkflowRun.objects.get(pk="resume-me")
    assert run.recovery_attempts == 1 and run.executor_id != "dead-executor"


def test_replay_that_meets_another_step_name_is_not_deterministic():
    with durable.SetWorkflowID("nondet"):
        workflows.three_steps(1)
    StepOutput.objects.filter(run_id="nondet", step_number=2).update(step_name="something_else")
    StepOutput.objects.filter(run_id="nondet", step_number=3).delete()
    WorkflowRun.objects.filter(pk="nondet").update(status=RunStatus.CANCELLED)
    handle = durable.resume_workflow("nondet")
    run_until_idle()
    with pytest.raises(durable.NonDeterministicWorkflowError, match=r"step 2.*something_else"):
        handle.get_result(timeout=10)


def test_child_workflows_get_parent_step_ids_and_are_recorded_as_steps():
    with durable.SetWorkflowID("p"):
        result = workflows.parent(1)
    assert result == [2, 3, "p-3", 101]
    # The child's handle.get_result() inside the parent is recorded too (step 4).
    assert step_rows("p") == [
        (1, "add_one"),
        (2, "child"),
        (3, "child"),
        (4, "durable.get_result"),
    ]
    children = StepOutput.objects.filter(run_id="p", child_workflow_id__isnull=False)
    assert sorted(children.values_list("child_workflow_id", flat=True)) == ["p-2", "p-3"]
    assert WorkflowRun.objects.get(pk="p-2").parent_id == "p"
    assert WorkflowRun.objects.get(pk="p-3").status == RunStatus.SUCCESS
    # Replaying the parent does not start the children again.
    calls_before = workflows.CALLS["add_one"]
    WorkflowRun.objects.filter(pk="p").update(status=RunStatus.CANCELLED)
    handle = durable.resume_workflow("p")
    run_until_idle()
    assert handle.get_result(timeout=10) == result
    assert workflows.CALLS["add_one"] == calls_before


def test_durable_sleep_records_its_wake_up_time_and_replay_sleeps_only_what_is_left():
    with durable.SetWorkflowID("nap"):
        assert workflows.sleeper(0.05) == "awake"
    step = StepOutput.objects.get(run_id="nap")
    assert step.step_name == "durable.sleep"
    wake_at = serialization.loads(step.output)
    assert timezone.now() >= wake_at
    # Pretend the recorded wake-up time is far away: replay sleeps until then, so a run
    # recorded as waking in the past must not sleep at all.
    StepOutput.objects.filter(pk=step.pk).update(
        output=serialization.dumps(timezone.now() - timedelta(hours=1))
    )
    WorkflowRun.objects.filter(pk="nap").update(status=RunStatus.CANCELLED)
    handle = durable.resume_workflow("nap")
    run_until_idle()
    assert handle.get_result(timeout=2) == "awake"


def test_start_workflow_runs_in_the_background_and_returns_a_handle():
    handle = durable.start_workflow(workflows.three_steps, 5)
    assert handle.get_result(timeout=10) == "value=12"
    status = handle.get_status()
    assert status.status == RunStatus.SUCCESS
    assert status.output == "value=12"
    assert status.input == {"args": [5], "kwargs": {}}


def test_start_workflow_refuses_a_function_that_is_not_a_workflow():
    with pytest.raises(durable.RegistrationError, match="not a workflow"):
        durable.start_workflow(len, [1])


def test_a_registered_custom_name_is_used():
    with durable.SetWorkflowID("named"):
        assert workflows.named_workflow() == "named"
    assert WorkflowRun.objects.get(pk="named").name == "renamed-workflow"


def test_retrieve_of_an_unknown_id_raises_lookup_error():
    with pytest.raises(LookupError, match="'nope'"):
        durable.retrieve_workflow("nope")


def test_get_result_with_a_timeout_raises_workflow_timeout():
    handle = durable.start_workflow(workflows.waits_for_gate, 1)
    with pytest.raises(durable.WorkflowTimeout):
        handle.get_result(timeout=0.1)
    workflows.GATE.set()
    assert handle.get_result(timeout=10) == 3


def test_query_count_of_a_three_step_workflow(django_assert_num_queries):
    workflows.trivial_three_steps(0)  # warm up: connection set-up, content types
    expected = THREE_STEP_STATEMENTS[connection.vendor]
    with django_assert_num_queries(len(expected)) as captured:
        workflows.trivial_three_steps(7)
    sql = [q["sql"].split()[0].upper() for q in captured.captured_queries]
    assert sql == expected
    assert commits(sql) == 4


def test_two_threads_racing_on_one_id_run_the_body_once():
    results: list[object] = []
    barrier = threading.Barrier(2)

    def call() -> None:
        barrier.wait()
        try:
            with durable.SetWorkflowID("race"):
                results.append(workflows.waits_for_gate(1))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    # Let both threads reach the run before the body may finish.
    deadline = timezone.now() + timedelta(seconds=10)
    while not StepOutput.objects.filter(run_id="race").exists() and timezone.now() < deadline:
        threading.Event().wait(0.01)
    workflows.GATE.set()
    for t in threads:
        t.join(10)
    assert results == [3, 3]
    assert workflows.CALLS["add_one"] == 2  # two steps, each once
    assert WorkflowRun.objects.get(pk="race").status == RunStatus.SUCCESS
