"""Deploying a change under load: 200 runs in flight across two ``runscheduler``
processes, both killed and restarted on code whose workflow adds a step behind
``patch()``. Every run completes; the runs that had gone past the patch point take the
old branch, the others the new one, and no step body that had been recorded runs again.

The test process does not import the workflow's code: it enqueues the runs by name with
``django_durable.client``, as another service would.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import pytest

from django_durable import client
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from tests.models import Event
from tests.process.children import MANAGE, Child, wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

RUNS = 200
CONCURRENCY = 8
FAST = {"DURABLE_TEST_POLL_INTERVAL": "0.05", "DURABLE_TEST_HEARTBEAT_INTERVAL": "0.2"}
OLD_STEPS = ["first", "second", "hold", "third"]
NEW_STEPS = ["first", "durable.patch-audit", "audit", "second", "hold", "third"]


@pytest.fixture
def deploy_worker(_children: Callable[..., Child]) -> Callable[..., Child]:
    def start(executor_id: str, code: str) -> Child:
        argv = [
            "runscheduler",
            "--settings",
            "tests.process.deploy_settings",
            "--executor-id",
            executor_id,
            "--no-scheduler",
            "--queues",
            "deploy",
            "--concurrency",
            str(CONCURRENCY),
        ]
        env = {**FAST, "DURABLE_TEST_DEPLOY_CODE": code}
        child = _children(
            argv, executor_id=executor_id, env=env, program=[sys.executable, str(MANAGE)]
        )
        child.expect_line(f"django_durable worker {executor_id}: queues")
        return child

    return start


def recorded() -> dict[str, list[str]]:
    steps: dict[str, list[str]] = {}
    for run_id, name in StepOutput.objects.order_by("run_id", "step_number").values_list(
        "run_id", "step_name"
    ):
        steps.setdefault(run_id, []).append(name)
    return steps


def test_a_patched_deploy_under_load_completes_every_run_on_its_branch(deploy_worker, executor_id):
    ids = [
        client.enqueue(
            {"queue_name": "deploy", "workflow_name": "deploy_flow", "workflow_id": f"d-{i:03d}"},
            i,
        ).workflow_id
        for i in range(RUNS)
    ]
    names = [executor_id("deploy-a"), executor_id("deploy-b")]
    old = [deploy_worker(name, "old") for name in names]

    # Every slot of both processes holds a run that went past the patch point; the other
    # runs wait on the queue.
    def held() -> bool:
        pending = WorkflowRun.objects.filter(status=RunStatus.PENDING)
        past = StepOutput.objects.filter(step_name="second", run__in=pending).count()
        return pending.count() == past == 2 * CONCURRENCY

    wait_until(held, "both workers to hold their runs after step 2")
    before = recorded()
    assert WorkflowRun.objects.filter(status=RunStatus.ENQUEUED).count() == RUNS - 16

    for child in old:  # the deploy: kill -9, then the new code under the same ids
        child.kill()
    Event.objects.create(label="deploy-release")
    new = [deploy_worker(name, "new") for name in names]

    wait_until(
        lambda: WorkflowRun.objects.filter(status=RunStatus.SUCCESS).count() == RUNS,
        f"all {RUNS} runs to finish",
        timeout=120,
        diagnostics=lambda: str(Counter(WorkflowRun.objects.values_list("status", flat=True))),
    )
    after = recorded()
    went_past = {run_id for run_id, steps in before.items() if "second" in steps}
    assert len(went_past) == 16
    for run_id in ids:
        result = client.retrieve_workflow(run_id).get_result(timeout=5)
        if run_id in went_past:
            assert after[run_id] == OLD_STEPS, run_id
            assert result == ["old", "new"], run_id  # its last step ran on the new code
        else:
            assert after[run_id] == NEW_STEPS, run_id
            assert result == ["new", "new"], run_id

    # Each recorded body ran once, in all processes together (hold may run again: the
    # runs were killed inside it).
    counts = Counter(Event.objects.exclude(label="deploy-release").values_list("label", flat=True))
    for i in range(RUNS):
        assert counts[f"first-{i}"] == counts[f"second-{i}"] == counts[f"third-{i}"] == 1
        assert counts[f"audit-{i}"] == (0 if f"d-{i:03d}" in went_past else 1)
    for child in new:
        child.close()
