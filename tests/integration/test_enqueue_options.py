"""``SetEnqueueOptions(delay_seconds=..., deduplication_policy=...)`` and ``Debouncer``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry, serialization, testing
from django_durable.engine import execution
from django_durable.engine import runtime as runtimes
from django_durable.models import RunStatus, WaitingFor, WorkflowRun
from tests import messaging_workflows as mw
from tests.helpers import step_rows
from tests.workflows import CALLS

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = mw.MESSAGING_QUEUE
WAIT = 20.0


def claim_at(now, queue=QUEUE) -> list[WorkflowRun]:
    return queues.claim(queue, runtimes.current().executor_id, 10, now, registry.workflow_names())


def inputs_of(workflow_id: str) -> Any:
    return serialization.loads(WorkflowRun.objects.get(pk=workflow_id).inputs)


# ---------------------------------------------------------------- delay_seconds


def test_a_delayed_run_starts_no_earlier_than_its_delay():
    before = timezone.now()
    with durable.SetEnqueueOptions(delay_seconds=60):
        handle = QUEUE.enqueue(mw.plain_child)
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert run.run_after is not None
    assert before + timedelta(seconds=60) <= run.run_after <= timezone.now() + timedelta(60)

    assert claim_at(run.run_after - timedelta(seconds=1)) == []
    (claimed,) = claim_at(run.run_after)
    execution.execute_stored(claimed.pk, runtimes.current(), claimed)
    assert handle.get_result(timeout=WAIT) == "child"


def test_a_zero_delay_is_due_at_once_and_a_bad_delay_is_refused():
    with durable.SetEnqueueOptions(delay_seconds=0):
        QUEUE.enqueue(mw.plain_child)
    assert testing.run_until_idle() == 1
    bad_delays: list[Any] = [-1, "5", True, float("nan")]
    for bad in bad_delays:
        with pytest.raises(ValueError, match="delay_seconds"):
            durable.SetEnqueueOptions(delay_seconds=bad)


def test_start_workflow_is_refused_inside_a_delay():
    with (
        durable.SetEnqueueOptions(delay_seconds=5),
        pytest.raises(durable.InvalidStateError, match="delay_seconds"),
    ):
        durable.start_workflow(mw.plain_child)


# ---------------------------------------------------------------- deduplication_policy


def test_return_existing_gives_the_active_run_s_handle():
    with durable.SetEnqueueOptions(deduplication_id="report-11"):
        first = QUEUE.enqueue(mw.debounced, 1)
    with durable.SetEnqueueOptions(
        deduplication_id="report-11", deduplication_policy="return_existing"
    ):
        second = QUEUE.enqueue(mw.debounced, 2)
    with durable.SetEnqueueOptions(deduplication_id="report-11", deduplication_policy="reject"):
        with pytest.raises(durable.QueueDeduplicatedError, match="report-11"):
            QUEUE.enqueue(mw.debounced, 3)

    assert second == first
    assert WorkflowRun.objects.count() == 1
    assert inputs_of(first.workflow_id)["args"] == [1]  # the duplicate's arguments are dropped

    testing.run_until_idle()  # once it has finished, the id is free again
    with durable.SetEnqueueOptions(
        deduplication_id="report-11", deduplication_policy="return_existing"
    ):
        third = QUEUE.enqueue(mw.debounced, 4)
    assert third != first


def test_return_existing_inside_a_workflow_is_recorded():
    with durable.SetWorkflowID("dedup-parent"):
        ids = mw.enqueue_return_existing("in-workflow")
    assert ids[0] == ids[1] == "dedup-parent-1"
    assert [name for _, name in step_rows("dedup-parent")] == [
        "plain_child",
        "record",
        "plain_child",
        "record",
    ]
    # A fork replays both enqueues (recorded with the run they returned).
    fork = durable.fork_workflow("dedup-parent", 4)
    testing.run_until_idle()
    assert fork.get_result(timeout=WAIT) == ids


def test_bad_deduplication_policies_are_refused():
    with pytest.raises(ValueError, match="deduplication_policy"):
        durable.SetEnqueueOptions(deduplication_id="x", deduplication_policy="return-existing")
    with pytest.raises(ValueError, match="needs a deduplication_id"):
        durable.SetEnqueueOptions(deduplication_policy="return_existing")


# ---------------------------------------------------------------- Debouncer


def test_calls_within_the_period_collapse_into_one_run_with_the_last_arguments():
    debouncer = durable.Debouncer(mw.debounced, 60, queue=QUEUE)
    first = debouncer.enqueue("doc-1", "v1")
    second = debouncer.enqueue("doc-1", "v2")
    before_last = timezone.now()
    last = debouncer.enqueue("doc-1", value="v3")
    other = debouncer.enqueue("doc-2", "w1")

    assert first == second == last != other
    run = WorkflowRun.objects.get(pk=first.workflow_id)
    assert (run.status, run.waiting_for) == (RunStatus.ENQUEUED, WaitingFor.DEBOUNCE)
    assert run.deduplication_id == "debounce:debounced:doc-1"
    assert inputs_of(run.pk) == {"args": [], "kwargs": {"value": "v3"}}
    due = run.run_after
    assert due is not None
    assert before_last + timedelta(seconds=60) <= due <= timezone.now() + timedelta(seconds=60)
    assert WorkflowRun.objects.count() == 2

    # Due 60 s after the last call: a worker runs it once, with the last arguments.
    assert claim_at(due - timedelta(seconds=1)) == []
    claimed = {row.pk: row for row in claim_at(due + timedelta(seconds=1))}
    for pk, row in claimed.items():
        execution.execute_stored(pk, runtimes.current(), row)
    assert first.get_result(timeout=WAIT) == "v3"
    assert other.get_result(timeout=WAIT) == "w1"
    assert CALLS["debounced"] == 2


def test_a_call_after_the_run_started_debounces_into_a_new_run():
    debouncer = durable.Debouncer(mw.debounced, 30)  # the internal queue
    first = debouncer.enqueue("k", 1)
    started = claim_at(timezone.now() + timedelta(seconds=31), queues.INTERNAL_QUEUE)
    assert [row.pk for row in started] == [first.workflow_id]

    second = debouncer.enqueue("k", 2)  # the first is committed to run: a new one

    assert second != first
    execution.execute_stored(first.workflow_id, runtimes.current(), started[0])
    assert first.get_result(timeout=WAIT) == 1
    run = WorkflowRun.objects.get(pk=first.workflow_id)
    assert (run.waiting_for, run.deduplication_id) == (None, None)
    assert WorkflowRun.objects.get(pk=second.workflow_id).status == RunStatus.ENQUEUED


def test_debouncing_inside_a_workflow_is_recorded_and_collapses_too():
    with durable.SetWorkflowID("debouncing-parent"):
        ids = mw.debounce_inside("k", [1, 2, 3])
    assert len(set(ids)) == 1
    assert [name for _, name in step_rows("debouncing-parent")] == ["durable.debounce"] * 3
    run = WorkflowRun.objects.get(pk=ids[0])
    assert run.parent_id == "debouncing-parent" and inputs_of(run.pk)["args"] == [3]


def test_a_debounce_key_held_by_another_run_is_a_conflict():
    with durable.SetEnqueueOptions(deduplication_id="debounce:debounced:taken"):
        QUEUE.enqueue(mw.debounced, 0)
    debouncer = durable.Debouncer(mw.debounced, 5, queue="messaging")
    with pytest.raises(durable.QueueDeduplicatedError, match="debounce:debounced:taken"):
        debouncer.enqueue("taken", 1)
    assert WorkflowRun.objects.count() == 1


def test_bad_debouncer_arguments_are_refused_before_anything_is_written():
    with pytest.raises(durable.RegistrationError):
        durable.Debouncer(print, 5)
    bad_periods: list[Any] = [0, -1, "5", float("inf"), True]
    for bad in bad_periods:
        with pytest.raises(ValueError, match="debounce_seconds"):
            durable.Debouncer(mw.debounced, bad)
    with pytest.raises(ValueError, match="queue"):
        durable.Debouncer(mw.debounced, 5, queue=7)
    debouncer = durable.Debouncer(mw.debounced, 5, queue="not-declared")
    with pytest.raises(durable.RegistrationError, match="not-declared"):
        debouncer.enqueue("k", 1)
    good = durable.Debouncer(mw.debounced, 5)
    with pytest.raises(ValueError, match="key"):
        good.enqueue("", 1)
    with pytest.raises(ValueError, match="too long"):
        good.enqueue("k" * 300, 1)
    with pytest.raises(TypeError, match="object"):
        good.enqueue("k", object())
    with (
        durable.SetEnqueueOptions(deduplication_id="mine"),
        pytest.raises(durable.InvalidStateError, match="debouncer"),
    ):
        good.enqueue("k", 1)
    assert not WorkflowRun.objects.exists()


def test_enqueue_async_debounces_too():
    import asyncio

    debouncer = durable.Debouncer(mw.debounced, 60, queue=QUEUE)

    async def calls() -> list[durable.WorkflowHandle]:
        return [await debouncer.enqueue_async("a", value) for value in (1, 2)]

    first, second = asyncio.run(calls())
    assert first == second
    assert inputs_of(first.workflow_id)["args"] == [2]
