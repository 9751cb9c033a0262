"""Crash recovery with real processes: SIGKILL a worker between steps, recover its runs.

Each test starts ``run_workflow.py`` children on the test database. ``crash_workflow``
writes an ``Event`` per step (values 1, 2, 3), so the ``Event`` rows count how often each
step body ran across all processes; with ``DURABLE_TEST_CRASH_AFTER_STEP_2=1`` it stands
still after step 2 until it is killed.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable import conf, registry, serialization
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from tests.models import Event
from tests.process.children import DEADLINE, Child, Spawn, wait_until

# Children read what this process writes: commits must be real.
pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

CRASH = {"DURABLE_TEST_CRASH_AFTER_STEP_2": "1"}
CONTROL_LOGGER = "django_durable.engine.recovery"


def events(label: str) -> list[int]:
    return list(Event.objects.filter(label=label).order_by("pk").values_list("value", flat=True))


def step_numbers(workflow_id: str) -> list[int]:
    return list(
        StepOutput.objects.filter(run_id=workflow_id)
        .order_by("step_number")
        .values_list("step_number", flat=True)
    )


def crash_after_step_2(spawn: Spawn, executor_id: str, workflow_id: str, label: str) -> Child:
    """Run ``crash_workflow(label)`` in a child, SIGKILL it once step 2 is recorded."""
    child = spawn(
        "run",
        "crash_workflow",
        "--workflow-id",
        workflow_id,
        "--args",
        f'["{label}"]',
        executor_id=executor_id,
        env=CRASH,
    )
    wait_until(
        lambda: (
            StepOutput.objects.filter(run_id=workflow_id, step_number=2).exists()
            or child.proc.poll() is not None
        ),
        f"step 2 of {workflow_id!r}",
        diagnostics=child.describe,
    )
    assert child.proc.poll() is None, f"The child ended before it was killed.{child.describe()}"
    child.kill()
    assert child.proc.returncode == -9, child.describe()
    return child


def assert_left_pending(workflow_id: str, executor_id: str, child: Child) -> WorkflowRun:
    run = WorkflowRun.objects.get(pk=workflow_id)
    assert (run.status, run.executor_id) == (RunStatus.PENDING, executor_id), child.describe()
    assert step_numbers(workflow_id) == [1, 2], child.describe()
    return run


def assert_recovered_once(workflow_id: str, label: str, executor_id: str, detail: str) -> None:
    run = WorkflowRun.objects.get(pk=workflow_id)
    assert run.status == RunStatus.SUCCESS, detail
    assert serialization.loads(run.output) == 6, detail
    # Steps 1 and 2 ran once in all (in the killed process), step 3 once (after recovery).
    assert events(label) == [1, 2, 3], detail
    assert step_numbers(workflow_id) == [1, 2, 3], detail
    assert run.recovery_attempts == 1, detail
    assert run.executor_id == executor_id, detail


def test_a_child_process_runs_a_workflow_on_the_test_database(spawn, executor_id):
    """The harness itself: the child uses this test's database and its own executor id."""
    worker = executor_id("worker")
    child = spawn(
        "run", "three_steps", "--workflow-id", "plain-1", "--args", "[1]", executor_id=worker
    )
    outcome = child.expect("result")
    assert (outcome["workflow_id"], outcome["result"]) == ("plain-1", "value=4"), child.describe()
    assert child.finish() == 0, child.describe()
    run = WorkflowRun.objects.get(pk="plain-1")
    assert (run.status, run.executor_id) == (RunStatus.SUCCESS, worker)
    assert step_numbers("plain-1") == [1, 2, 3]


def test_a_killed_run_is_recovered_by_the_test_process(spawn, executor_id):
    dead = executor_id("dead")
    child = crash_after_step_2(spawn, dead, "crash-1", "crash")
    run = assert_left_pending("crash-1", dead, child)
    assert run.recovery_attempts == 0
    assert events("crash") == [1, 2]

    handles = durable.recover_pending_workflows([dead])

    assert handles == [durable.WorkflowHandle("crash-1")]
    assert handles[0].get_result(timeout=DEADLINE) == 6
    assert_recovered_once("crash-1", "crash", conf.executor_id(), child.describe())


def test_a_killed_run_is_recovered_by_another_process(spawn, executor_id):
    dead, rescuer = executor_id("dead"), executor_id("rescuer")
    crashed = crash_after_step_2(spawn, dead, "crash-2", "crash-2")
    assert_left_pending("crash-2", dead, crashed)

    child = spawn("recover", dead, executor_id=rescuer)
    assert child.expect("recovered")["workflow_ids"] == ["crash-2"], child.describe()
    outcome = child.expect("result")
    assert (outcome["workflow_id"], outcome["result"]) == ("crash-2", 6), child.describe()
    assert child.finish() == 0, child.describe()

    assert durable.retrieve_workflow("crash-2").get_result(timeout=DEADLINE) == 6
    assert_recovered_once("crash-2", "crash-2", rescuer, child.describe())


def test_two_processes_recovering_at_once_take_the_run_over_once(spawn, executor_id):
    dead = executor_id("dead")
    crashed = crash_after_step_2(spawn, dead, "crash-3", "crash-3")
    assert_left_pending("crash-3", dead, crashed)

    racers = [
        spawn("recover", dead, executor_id=executor_id(f"racer{i}"), wait_for_go=True)
        for i in (1, 2)
    ]
    for racer in racers:  # both set up and connected: then release them together
        racer.expect("ready")
    for racer in racers:
        racer.go()
    claimed = [racer.expect("recovered")["workflow_ids"] for racer in racers]
    detail = "".join(racer.describe() for racer in racers)
    assert sorted(claimed) == [[], ["crash-3"]], detail
    (winner,) = (r for r, ids in zip(racers, claimed, strict=True) if ids)
    outcome = winner.expect("result")
    assert (outcome["workflow_id"], outcome["result"]) == ("crash-3", 6), detail
    assert [racer.finish() for racer in racers] == [0, 0], detail

    assert_recovered_once("crash-3", "crash-3", winner.executor_id, detail)


def test_a_run_at_its_recovery_limit_is_given_up(spawn, executor_id, caplog):
    limit = registry.get_workflow("crash_workflow").max_recovery_attempts
    first, second = executor_id("first"), executor_id("second")
    crashed = crash_after_step_2(spawn, first, "crash-4", "crash-4")
    assert_left_pending("crash-4", first, crashed)
    # As if it had been recovered (and had crashed again) all but one of the times allowed.
    WorkflowRun.objects.filter(pk="crash-4").update(recovery_attempts=limit - 1)

    # The last recovery allowed: a second process takes the run over and dies too.
    rescuer = spawn("recover", first, executor_id=second, env=CRASH)
    assert rescuer.expect("recovered")["workflow_ids"] == ["crash-4"], rescuer.describe()
    rescuer.kill()
    run = assert_left_pending("crash-4", second, rescuer)
    assert run.recovery_attempts == limit, rescuer.describe()

    with caplog.at_level(logging.ERROR, logger=CONTROL_LOGGER):
        handles = durable.recover_pending_workflows([second])

    assert handles == []
    run = WorkflowRun.objects.get(pk="crash-4")
    assert run.status == RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED
    assert run.recovery_attempts == limit and run.completed_at is not None
    with pytest.raises(durable.MaxRecoveryAttemptsExceeded, match="crash-4"):
        durable.retrieve_workflow("crash-4").get_result(timeout=DEADLINE)
    assert events("crash-4") == [1, 2]  # the second process replayed steps 1 and 2
    assert step_numbers("crash-4") == [1, 2]
    assert any(
        r.levelno == logging.ERROR and "crash-4" in r.getMessage() for r in caplog.records
    ), caplog.text


def test_an_unregistered_workflow_is_skipped_and_the_others_recovered(spawn, executor_id, caplog):
    dead = executor_id("dead")
    # A run of a workflow that is no longer in the code, older than the run that crashes,
    # so recovery meets it first.
    WorkflowRun.objects.create(
        workflow_id="gone-1",
        name="removed_workflow",
        status=RunStatus.PENDING,
        inputs=serialization.dumps({"args": [], "kwargs": {}}),
        executor_id=dead,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    crashed = crash_after_step_2(spawn, dead, "crash-5", "crash-5")
    assert_left_pending("crash-5", dead, crashed)

    with caplog.at_level(logging.ERROR, logger=CONTROL_LOGGER):
        handles = durable.recover_pending_workflows([dead])

    assert handles == [durable.WorkflowHandle("crash-5")]
    assert handles[0].get_result(timeout=DEADLINE) == 6
    assert_recovered_once("crash-5", "crash-5", conf.executor_id(), crashed.describe())

    gone = WorkflowRun.objects.get(pk="gone-1")
    assert (gone.status, gone.executor_id, gone.recovery_attempts) == (
        RunStatus.PENDING,
        dead,
        0,
    )
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in errors] == [CONTROL_LOGGER], caplog.text
    assert "gone-1" in errors[0].getMessage(), caplog.text
    assert "removed_workflow" in errors[0].getMessage(), caplog.text
