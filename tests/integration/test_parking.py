"""Parked waits: a worker's run that waits long gives its slot back, and any worker
resumes it by replay when its time (or what it waits for) comes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry, serialization, testing
from django_durable.engine import execution, messages
from django_durable.engine import runtime as runtimes
from django_durable.models import RunStatus, StepOutput, WaitingFor, WorkflowRun
from tests import messaging_workflows as mw
from tests.helpers import step_rows
from tests.workflows import CALLS

pytestmark = pytest.mark.django_db(transaction=True)

PARK_AT_ONCE = override_settings(DURABLE={"PARK_THRESHOLD": 0})
WAIT = 20.0


def enqueue(fn, *args, workflow_id: str, queue=mw.MESSAGING_QUEUE):
    with durable.SetWorkflowID(workflow_id):
        return queue.enqueue(fn, *args)


def resume_when_due(workflow_id: str, *, deadline_passed: bool = False) -> WorkflowRun:
    """Move the run's clock on: its recorded waits (or, with ``deadline_passed``, its
    deadline) end a second ago; then claim it and execute it here, as a worker would."""
    past = timezone.now() - timedelta(seconds=1)
    if deadline_passed:
        WorkflowRun.objects.filter(pk=workflow_id).update(deadline=past)
    else:
        StepOutput.objects.filter(run_id=workflow_id, step_name="durable.sleep").update(
            output=serialization.dumps(past)
        )
    WorkflowRun.objects.filter(pk=workflow_id).update(run_after=past)
    run = WorkflowRun.objects.get(pk=workflow_id)
    runtime = runtimes.current()
    claimed = queues.claim(
        registry.get_queue(str(run.queue_name)),
        runtime.executor_id,
        10,
        timezone.now(),
        registry.workflow_names(),
    )
    (row,) = [row for row in claimed if row.pk == workflow_id]
    execution.execute_stored(workflow_id, runtime, row)
    return WorkflowRun.objects.get(pk=workflow_id)


def parked(workflow_id: str) -> WorkflowRun:
    run = WorkflowRun.objects.get(pk=workflow_id)
    assert (run.status, run.executor_id) == (RunStatus.ENQUEUED, None)
    assert run.waiting_for is not None and run.run_after is not None
    return run


@PARK_AT_ONCE
def test_a_long_sleep_parks_the_run_and_a_worker_resumes_it_by_replay():
    before = timezone.now()
    enqueue(mw.sleep_between_steps, "nap", 3600, workflow_id="nap")

    assert testing.run_until_idle() == 1  # the worker is free again: nothing sleeps

    run = parked("nap")
    wake_at = serialization.loads(StepOutput.objects.get(run_id="nap", step_number=2).output)
    assert run.waiting_for == WaitingFor.SLEEP and run.run_after == wake_at
    assert before + timedelta(seconds=3600) <= wake_at <= timezone.now() + timedelta(hours=1)
    assert step_rows("nap") == [(1, "record"), (2, "durable.sleep")]
    # Not claimed before its time.
    claimed = queues.claim(
        mw.MESSAGING_QUEUE, "someone", 10, timezone.now(), registry.workflow_names()
    )
    assert claimed == []

    run = resume_when_due("nap")

    assert (run.status, run.waiting_for) == (RunStatus.SUCCESS, None)
    assert durable.retrieve_workflow("nap").get_result() == "nap"
    assert (CALLS["nap-1"], CALLS["nap-2"]) == (1, 1)  # step 1 replayed, not run again


def test_a_short_sleep_waits_in_place():
    enqueue(mw.sleep_between_steps, "short", 0.05, workflow_id="short")
    assert testing.run_until_idle() == 1
    assert WorkflowRun.objects.get(pk="short").status == RunStatus.SUCCESS


@PARK_AT_ONCE
def test_a_direct_call_never_parks():
    with durable.SetWorkflowID("direct"):
        assert mw.sleep_between_steps("direct", 0.05) == "direct"
    assert WorkflowRun.objects.get(pk="direct").waiting_for is None


@PARK_AT_ONCE
def test_an_async_run_parks_too():
    enqueue(mw.sleep_between_steps_async, "async-nap", 3600, workflow_id="async-nap")
    assert testing.run_until_idle() == 1
    assert parked("async-nap").waiting_for == WaitingFor.SLEEP
    assert resume_when_due("async-nap").status == RunStatus.SUCCESS


@PARK_AT_ONCE
def test_a_parked_recv_is_woken_by_a_message_on_its_topic():
    enqueue(mw.wait_for_message, "approval", 3600, workflow_id="approver")
    testing.run_until_idle()
    run = parked("approver")
    assert (run.waiting_for, run.wait_key) == (WaitingFor.MESSAGE, "approval")
    wake_at = run.run_after

    durable.send("approver", "wrong topic", topic="other")
    assert WorkflowRun.objects.get(pk="approver").run_after == wake_at  # still asleep
    durable.send("approver", {"ok": True}, topic="approval")
    assert WorkflowRun.objects.filter(pk="approver", run_after__lte=timezone.now()).exists()

    assert testing.run_until_idle() == 1
    assert durable.retrieve_workflow("approver").get_result() == {"ok": True}


@PARK_AT_ONCE
def test_a_parked_recv_resumes_at_its_timeout_with_none():
    enqueue(mw.wait_for_message, None, 60, workflow_id="nobody-writes")
    testing.run_until_idle()
    parked("nobody-writes")
    run = resume_when_due("nobody-writes")
    assert run.status == RunStatus.SUCCESS and serialization.loads(run.output) is None


@PARK_AT_ONCE
def test_a_message_arriving_while_the_run_parks_is_not_missed(monkeypatch):
    """The park re-checks for a message after locking the run's row: a send committed
    between the wait and the park keeps the run from parking."""
    real = messages.has_unread
    looks: list[bool] = []

    def racing(workflow_id: str, topic: str | None) -> bool:
        found = real(workflow_id, topic)
        looks.append(found)
        if len(looks) == 2:  # the wait's last look: a send lands right after it
            messages.deliver(workflow_id, serialization.dumps("just in time"), topic, None)
        return found

    monkeypatch.setattr(messages, "has_unread", racing)
    enqueue(mw.wait_for_message, "t", 3600, workflow_id="race")
    testing.run_until_idle()

    run = WorkflowRun.objects.get(pk="race")
    assert run.status == RunStatus.SUCCESS, run.waiting_for
    assert serialization.loads(run.output) == "just in time"
    assert looks == [False, False, True]


@PARK_AT_ONCE
def test_a_parked_get_event_is_woken_by_the_event():
    handle = enqueue(mw.event_reader, "pub-x", "status", 3600, workflow_id="event-waiter")
    testing.run_until_idle()
    run = parked("event-waiter")
    assert (run.waiting_for, run.wait_key, run.wait_workflow_id) == (
        WaitingFor.EVENT,
        "status",
        "pub-x",
    )

    with durable.SetWorkflowID("pub-x"):
        publisher = durable.start_workflow(mw.publisher, ["ready"])
    durable.get_event("pub-x", "status", WAIT)
    assert WorkflowRun.objects.filter(pk="event-waiter", run_after__lte=timezone.now()).exists()
    testing.run_until_idle()
    assert handle.get_result(timeout=WAIT)["value"] == "ready"
    durable.send("pub-x", None, topic="done")
    publisher.get_result(timeout=WAIT)


@PARK_AT_ONCE
def test_parked_runs_do_not_hold_their_queue_s_concurrency():
    """``messaging-narrow`` runs one run at a time; both sleepers start and park."""
    for name in ("first", "second"):
        enqueue(mw.sleep_between_steps, name, 3600, workflow_id=name, queue=mw.NARROW_QUEUE)
    assert testing.run_until_idle() == 2
    assert {parked(name).waiting_for for name in ("first", "second")} == {WaitingFor.SLEEP}
    assert (CALLS["first-1"], CALLS["second-1"]) == (1, 1)


@PARK_AT_ONCE
def test_a_parked_run_can_be_cancelled_and_is_not_resumed():
    enqueue(mw.sleep_between_steps, "cancel-me", 3600, workflow_id="cancel-me")
    testing.run_until_idle()
    assert durable.cancel_workflow("cancel-me") is True
    later = timezone.now() + timedelta(hours=2)
    assert queues.claim(mw.MESSAGING_QUEUE, "w", 10, later, registry.workflow_names()) == []
    with pytest.raises(durable.WorkflowCancelled):
        durable.retrieve_workflow("cancel-me").get_result()


@PARK_AT_ONCE
def test_a_parked_run_keeps_its_deadline_and_wakes_for_it():
    with durable.SetWorkflowTimeout(600):
        enqueue(mw.timeout_sleeper, 3600, workflow_id="bounded")
    testing.run_until_idle()
    run = parked("bounded")
    assert run.deadline is not None and run.run_after == run.deadline

    run = resume_when_due("bounded", deadline_passed=True)

    assert run.status == RunStatus.CANCELLED
    with pytest.raises(durable.WorkflowCancelled, match="timed out"):
        durable.retrieve_workflow("bounded").get_result()
    assert CALLS["late-sleeper"] == 0


def test_a_resumed_parked_run_does_not_send_workflow_started_again():
    from django_durable import signals

    seen: list[str] = []

    def receiver(**kwargs: Any) -> None:
        seen.append(kwargs["workflow_id"])

    signals.workflow_started.connect(receiver)
    try:
        with PARK_AT_ONCE:
            enqueue(mw.sleep_between_steps, "once", 3600, workflow_id="started-once")
            testing.run_until_idle()
            resume_when_due("started-once")
    finally:
        signals.workflow_started.disconnect(receiver)
    assert seen == ["started-once"]


def test_the_park_threshold_is_checked():
    from django.core.checks import run_checks

    bad: list[Any] = [-1, "5", True]
    for value in bad:
        with override_settings(DURABLE={"PARK_THRESHOLD": value}):
            ids = [error.id for error in run_checks()]
        assert "django_durable.E030" in ids, value
    good: list[Any] = [None, 0, 2.5]
    for value in good:
        with override_settings(DURABLE={"PARK_THRESHOLD": value}):
            assert "django_durable.E030" not in [e.id for e in run_checks()]


def test_async_helpers_do_not_leave_the_loop_blocked():
    """A parked async run's coroutine ends: the runtime's loop is free for others."""
    with PARK_AT_ONCE:
        enqueue(mw.sleep_between_steps_async, "free-loop", 3600, workflow_id="free-loop")
        testing.run_until_idle()
    loop = runtimes.current().event_loop()
    assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "free"), loop).result(5) == "free"
