"""``SetWorkflowTimeout``: deadlines, inherited by children, kept across recovery; at the
deadline the run and its children end ``CANCELLED`` and no later step starts."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable import testing
from django_durable.models import RunStatus, WorkflowRun
from tests import messaging_workflows as mw
from tests.workflows import CALLS

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20.0


def wait_for_status(workflow_ids: list[str], status: str) -> dict[str, str]:
    deadline = time.monotonic() + WAIT
    while True:
        found = dict(
            WorkflowRun.objects.filter(pk__in=workflow_ids).values_list("workflow_id", "status")
        )
        if len(found) == len(workflow_ids) and set(found.values()) == {status}:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.02)


def test_a_timed_out_run_and_its_two_children_all_end_cancelled(worker_thread):
    """A parent with a 2 s timeout starts a child in the background and enqueues another
    (a worker runs it); all three wait for a message that never comes."""
    worker_thread(queues=["messaging"])
    with durable.SetWorkflowID("tp"), durable.SetWorkflowTimeout(2):
        handle = durable.start_workflow(mw.timeout_parent)

    with pytest.raises(durable.WorkflowCancelled, match="'tp' timed out"):
        handle.get_result(timeout=WAIT)

    ids = ["tp", "tp-1", "tp-2"]
    wait_for_status(ids, RunStatus.CANCELLED)
    rows = {run.pk: run for run in WorkflowRun.objects.filter(pk__in=ids)}
    assert rows["tp-1"].deadline == rows["tp-2"].deadline == rows["tp"].deadline
    assert rows["tp"].timeout_seconds == 2 and rows["tp-1"].timeout_seconds is None
    for child in ("tp-1", "tp-2"):
        with pytest.raises(durable.WorkflowCancelled, match="timed out"):
            durable.retrieve_workflow(child).get_result(timeout=WAIT)
    assert CALLS["parent-early"] == 1
    assert (CALLS["late-parent"], CALLS["late-started"], CALLS["late-queued"]) == (0, 0, 0)


def test_a_direct_call_times_out_and_its_caller_is_told_so():
    started = time.monotonic()
    with durable.SetWorkflowID("direct-timeout"), durable.SetWorkflowTimeout(0.3):
        with pytest.raises(durable.WorkflowCancelled, match="timed out"):
            mw.timeout_sleeper(30)
    assert time.monotonic() - started < 15  # not the 30 s sleep
    run = WorkflowRun.objects.get(pk="direct-timeout")
    assert run.status == RunStatus.CANCELLED and "timed out" in str(run.error)
    assert CALLS["late-sleeper"] == 0
    with pytest.raises(durable.WorkflowCancelled, match="timed out"):
        durable.retrieve_workflow("direct-timeout").get_result()
    assert durable.retrieve_workflow("direct-timeout").get_status().deadline == run.deadline


def test_a_queued_run_gets_its_deadline_when_a_worker_starts_it():
    with durable.SetWorkflowTimeout(30), durable.SetWorkflowID("queued-timeout"):
        mw.MESSAGING_QUEUE.enqueue(mw.plain_child)
    run = WorkflowRun.objects.get(pk="queued-timeout")
    assert (run.timeout_seconds, run.deadline) == (30, None)

    testing.run_until_idle()

    run = WorkflowRun.objects.get(pk="queued-timeout")
    assert run.status == RunStatus.SUCCESS
    assert run.deadline is not None and run.started_at is not None
    assert timedelta(seconds=29) < run.deadline - run.started_at < timedelta(seconds=31)


def test_children_inherit_the_deadline_unless_told_otherwise():
    with durable.SetWorkflowID("inherit"), durable.SetWorkflowTimeout(60):
        ids = mw.inherit_parent()
    testing.run_until_idle()
    rows = {run.pk: run for run in WorkflowRun.objects.all()}
    parent = rows["inherit"]
    assert parent.deadline is not None
    assert (rows[ids["child"]].timeout_seconds, rows[ids["child"]].deadline) == (
        None,
        parent.deadline,
    )
    assert (rows[ids["free"]].timeout_seconds, rows[ids["free"]].deadline) == (None, None)
    assert rows[ids["own"]].timeout_seconds == 120
    assert rows[ids["own"]].deadline != parent.deadline


def test_a_recovered_run_keeps_its_deadline_and_is_cancelled_once_it_passed():
    with testing.crash_after_step(1, workflow="sleep_between_steps"):
        with durable.SetWorkflowID("recovered"), durable.SetWorkflowTimeout(3600):
            with pytest.raises(testing.SimulatedCrash):
                mw.sleep_between_steps("recovered", 0)
    WorkflowRun.objects.filter(pk="recovered").update(
        deadline=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(durable.WorkflowCancelled, match="timed out"):
        testing.recover("recovered")
    assert CALLS["recovered-2"] == 0


def test_a_resumed_run_gets_a_new_deadline():
    with durable.SetWorkflowID("again"), durable.SetWorkflowTimeout(0.2):
        with pytest.raises(durable.WorkflowCancelled):
            mw.timeout_sleeper(0.5)
    first = WorkflowRun.objects.get(pk="again").deadline

    durable.resume_workflow("again")
    run = WorkflowRun.objects.get(pk="again")
    assert (run.status, run.deadline, run.error) == (RunStatus.ENQUEUED, None, None)
    testing.run_until_idle()
    run = WorkflowRun.objects.get(pk="again")
    assert run.deadline is not None and first is not None and run.deadline > first


@pytest.mark.parametrize("seconds", [0, -1, "10", True, float("inf")])
def test_a_bad_timeout_is_refused(seconds):
    with pytest.raises(ValueError, match="timeout"):
        durable.SetWorkflowTimeout(seconds)


def test_a_run_that_ends_before_its_deadline_is_not_kept_alive_by_its_timer():
    import gc
    import weakref

    from django_durable.engine import runtime as runtimes

    seen: list[weakref.ref[Any]] = []
    observers = runtimes.current().checkpoint_observers
    observer = lambda run, checkpoint: seen.append(weakref.ref(run))  # noqa: E731
    observers.append(observer)
    try:
        with durable.SetWorkflowID("short-lived"), durable.SetWorkflowTimeout(3600):
            assert mw.sleep_between_steps("short-lived", 0) == "short-lived"
    finally:
        observers.remove(observer)
    gc.collect()
    assert seen and all(ref() is None for ref in seen)
