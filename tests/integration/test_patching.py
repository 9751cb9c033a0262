"""Changing a workflow under runs in flight: ``patch`` / ``deprecate_patch``.

The scenario is DBOS Transact's own (its ``test_patch``): the workflow's code is redefined
in four versions under one registered name, and runs recorded by each version are forked
(replayed) under the later ones. A redefinition in the same module replaces the
registration, as a deploy replaces the code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import django_durable as durable
from django_durable.dbos import DBOS
from django_durable.testing import run_until_idle

pytestmark = pytest.mark.django_db(transaction=True)

NAME = "patching-workflow"


@durable.step()
def step_one() -> int:
    return 1


@durable.step()
def step_two() -> int:
    return 2


@durable.step()
def step_three() -> int:
    return 3


def names(workflow_id: str) -> list[str]:
    return [step["function_name"] for step in durable.list_workflow_steps(workflow_id)]


def forked(workflow_id: str, start_step: int) -> durable.WorkflowHandle:
    handle = durable.fork_workflow(workflow_id, start_step)
    run_until_idle()
    return handle


def version_1() -> Callable[[], int]:
    @durable.workflow(name=NAME)
    def workflow() -> int:
        return step_one() + step_two()

    return workflow


def version_2() -> Callable[[], int]:
    @durable.workflow(name=NAME)
    def workflow() -> int:
        a = step_three() if durable.patch("v2") else step_one()
        return a + step_two()

    return workflow


def version_3() -> Callable[[], int]:
    @durable.workflow(name=NAME)
    def workflow() -> int:
        if durable.patch("v3"):
            a = step_two()
        elif durable.patch("v2"):
            a = step_three()
        else:
            a = step_one()
        return a + step_two()

    return workflow


def version_4() -> Callable[[], int]:
    @durable.workflow(name=NAME)
    def workflow() -> int:
        durable.deprecate_patch("v3")
        return step_two() + step_two()

    return workflow


def version_5() -> Callable[[], int]:
    @durable.workflow(name=NAME)
    def workflow() -> int:
        return step_two() + step_two()

    return workflow


def run(workflow: Callable[[], int], workflow_id: str) -> int:
    with durable.SetWorkflowID(workflow_id):
        return workflow()


def test_runs_take_the_branch_of_the_code_they_were_recorded_under(clean_registry):
    assert run(version_1(), "v1") == 3
    assert names("v1") == ["step_one", "step_two"]

    workflow = version_2()
    assert run(workflow, "v2") == 5
    assert names("v2") == ["durable.patch-v2", "step_three", "step_two"]
    # A run that recorded the marker replays past it; a run recorded before the patch
    # existed takes the old branch and records no marker.
    assert forked("v2", 3).get_result(timeout=10) == 5
    fork_v1 = forked("v1", 2)
    assert fork_v1.get_result(timeout=10) == 3
    assert names(fork_v1.workflow_id) == ["step_one", "step_two"]

    workflow = version_3()
    assert run(workflow, "v3") == 4
    assert names("v3") == ["durable.patch-v3", "step_two", "step_two"]
    assert forked("v3", 3).get_result(timeout=10) == 4
    fork_v2 = forked("v2", 3)
    assert fork_v2.get_result(timeout=10) == 5
    assert names(fork_v2.workflow_id) == ["durable.patch-v2", "step_three", "step_two"]
    assert forked("v1", 2).get_result(timeout=10) == 3

    # Deprecated: new runs record no marker; runs that recorded it still replay.
    workflow = version_4()
    assert run(workflow, "v4") == 4
    assert names("v4") == ["step_two", "step_two"]
    assert forked("v4", 3).get_result(timeout=10) == 4
    fork_v3 = forked("v3", 3)
    assert fork_v3.get_result(timeout=10) == 4
    assert names(fork_v3.workflow_id)[0] == "durable.patch-v3"
    # Runs of code that is gone fail cleanly instead of replaying the wrong steps.
    for source, start in (("v2", 3), ("v1", 2)):
        with pytest.raises(durable.NonDeterministicWorkflowError):
            forked(source, start).get_result(timeout=10)

    # The patch removed: runs without the marker replay, runs with it fail cleanly.
    version_5()
    assert forked("v4", 3).get_result(timeout=10) == 4
    with pytest.raises(durable.NonDeterministicWorkflowError):
        forked("v3", 3).get_result(timeout=10)


def test_a_replay_of_a_run_that_went_past_the_patch_records_nothing(clean_registry):
    """The old branch consumes no position: the recorded steps replay one for one, and
    the body of the old step does not run again."""
    calls: list[str] = []

    @durable.step(name="counted")
    def counted(label: str) -> str:
        calls.append(label)
        return label

    @durable.workflow(name="patching-past")
    def before() -> str:
        return counted("old") + counted("tail")

    assert run(before, "past") == "oldtail"

    @durable.workflow(name="patching-past")
    def after() -> str:
        head = counted("new") if durable.patch("head") else counted("old")
        return head + counted("tail")

    handle = forked("past", 3)
    assert handle.get_result(timeout=10) == "oldtail"
    assert calls == ["old", "tail"]  # both replayed from the record
    assert names(handle.workflow_id) == ["counted", "counted"]
    # A new run takes the new branch.
    assert run(after, "past-new") == "newtail"
    assert names("past-new") == ["durable.patch-head", "counted", "counted"]


def test_patch_outside_a_workflow_or_inside_a_step_is_refused(clean_registry):
    with pytest.raises(durable.InvalidStateError, match="outside a workflow"):
        durable.patch("x")
    with pytest.raises(durable.InvalidStateError, match="outside a workflow"):
        durable.deprecate_patch("x")

    @durable.step(name="patching-in-step")
    def in_step() -> bool:
        return durable.patch("x")

    @durable.workflow(name="patching-in-step-wf")
    def workflow() -> bool:
        return in_step()

    with pytest.raises(durable.InvalidStateError, match="inside a step"):
        run(workflow, "in-step")


@pytest.mark.parametrize("bad", ["", None, 3])
def test_a_patch_needs_a_name(clean_registry, bad: Any):
    @durable.workflow(name="patching-bad-name")
    def workflow() -> bool:
        return durable.patch(bad)

    with pytest.raises(ValueError, match="patch name"):
        run(workflow, f"bad-{bad!r}")


def test_async_patches(clean_registry):
    @durable.step(name="async-one")
    async def one() -> int:
        return 1

    @durable.step(name="async-two")
    async def two() -> int:
        return 2

    @durable.step(name="async-three")
    async def three() -> int:
        return 3

    @durable.workflow(name="patching-async")
    async def old() -> int:
        return await one() + await two()

    async def call(workflow: Any, workflow_id: str) -> int:
        with durable.SetWorkflowID(workflow_id):
            return int(await workflow())

    assert asyncio.run(call(old, "a1")) == 3

    @durable.workflow(name="patching-async")
    async def new() -> int:
        a = await three() if await durable.patch_async("v2") else await one()
        return a + await two()

    assert asyncio.run(call(new, "a2")) == 5
    assert names("a2") == ["durable.patch-v2", "async-three", "async-two"]
    fork = forked("a1", 2)
    assert fork.get_result(timeout=10) == 3
    assert names(fork.workflow_id) == ["async-one", "async-two"]

    @durable.workflow(name="patching-async")
    async def deprecated() -> int:
        await durable.deprecate_patch_async("v2")
        return await two() + await two()

    assert asyncio.run(call(deprecated, "a3")) == 4
    assert names("a3") == ["async-two", "async-two"]
    with pytest.raises(durable.NonDeterministicWorkflowError):
        forked("a2", 3).get_result(timeout=10)


def test_dbos_patch_records_dbos_markers_and_both_spellings_are_one_patch(clean_registry):
    @durable.workflow(name="patching-dbos")
    def through_dbos() -> int:
        a = step_three() if DBOS.patch("v2") else step_one()
        return a + step_two()

    assert run(through_dbos, "d2") == 5
    steps = DBOS.list_workflow_steps("d2")
    assert len(steps) == 3
    assert steps[0]["function_name"] == "DBOS.patch-v2"

    # The same workflow after changing the import back to the native API replays it.
    @durable.workflow(name="patching-dbos")
    def native() -> int:
        a = step_three() if durable.patch("v2") else step_one()
        return a + step_two()

    assert forked("d2", 3).get_result(timeout=10) == 5
    assert native is not None
