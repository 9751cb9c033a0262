"""A workflow of concurrent async steps (``asyncio.gather``), killed with SIGKILL after
two of its three gathered steps: recovery runs only the missing step, each step once."""

from __future__ import annotations

import pytest

import django_durable as durable
from django_durable import serialization
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from tests.models import Event
from tests.process.children import DEADLINE, wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def values(label: str) -> list[int]:
    return sorted(Event.objects.filter(label=label).values_list("value", flat=True))


def recorded(workflow_id: str) -> list[int]:
    return sorted(
        StepOutput.objects.filter(run_id=workflow_id).values_list("step_number", flat=True)
    )


def test_a_gathered_run_killed_after_two_of_its_three_steps_runs_each_step_once(
    spawn, executor_id
):
    dead = executor_id("dead")
    child = spawn(
        "run",
        "gathers_three",
        "--workflow-id",
        "gather-kill",
        "--args",
        '["gather-kill"]',
        executor_id=dead,
        env={"DURABLE_TEST_GATHER_HANG": "1"},
    )
    # Steps 1 and 2 end while step 3 still runs: each is recorded as it ends.
    wait_until(
        lambda: recorded("gather-kill") == [1, 2] or child.proc.poll() is not None,
        "steps 1 and 2 of the gathered run",
        diagnostics=child.describe,
    )
    child.kill()
    assert child.proc.returncode == -9, child.describe()
    assert values("gather-kill") == [1, 2]
    run = WorkflowRun.objects.get(pk="gather-kill")
    assert (run.status, run.executor_id) == (RunStatus.PENDING, dead)

    [handle] = durable.recover_pending_workflows([dead])
    assert handle.get_result(timeout=DEADLINE) == [10, 20, 30, 40]

    # Steps 1 and 2 ran once (in the killed process), 3 and 4 once (after recovery), and
    # each recorded outcome belongs to its own step.
    assert values("gather-kill") == [1, 2, 3, 4]
    outputs = dict(
        StepOutput.objects.filter(run_id="gather-kill").values_list("step_number", "output")
    )
    assert {n: serialization.loads(out) for n, out in outputs.items()} == {
        1: 10,
        2: 20,
        3: 30,
        4: 40,
    }
