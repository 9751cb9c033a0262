"""``send`` and ``recv``: delivery in order and once, topics, timeouts, idempotency, replay
and recovery, from threads and coroutines."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry, serialization, testing
from django_durable.engine import awaiting, execution
from django_durable.engine import runtime as runtimes
from django_durable.models import RunStatus, StepOutput, WorkflowMessage, WorkflowRun
from tests import messaging_workflows as mw
from tests.helpers import step_rows
from tests.workflows import CALLS

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20.0
"""Seconds a test waits for a run before it fails (a healthy one takes well under 1 s)."""


def start(fn, *args, workflow_id: str):
    with durable.SetWorkflowID(workflow_id):
        return durable.start_workflow(fn, *args)


def wait_until_waiting(workflow_id: str) -> None:
    """Until the run has recorded its wait's end (it is waiting for a message now)."""
    deadline = timezone.now() + timedelta(seconds=WAIT)
    while not StepOutput.objects.filter(run_id=workflow_id, step_name="durable.sleep").exists():
        assert timezone.now() < deadline, f"{workflow_id} never started waiting"
        asyncio.run(asyncio.sleep(0.01))


def test_a_message_sent_to_a_waiting_run_is_received():
    handle = start(mw.wait_for_message, "greeting", 30, workflow_id="recv-1")
    wait_until_waiting("recv-1")

    durable.send("recv-1", {"hello": ["world", 1]}, topic="greeting")

    assert handle.get_result(timeout=WAIT) == {"hello": ["world", 1]}
    assert step_rows("recv-1") == [(1, "durable.recv"), (2, "durable.sleep")]
    message = WorkflowMessage.objects.get(destination_id="recv-1")
    assert message.consumed_at is not None and message.topic == "greeting"


def enqueue(fn, *args, workflow_id: str) -> durable.WorkflowHandle:
    with durable.SetWorkflowID(workflow_id):
        return mw.MESSAGING_QUEUE.enqueue(fn, *args)


def claim_and_execute(workflow_id: str, now=None) -> None:
    """Execute an enqueued run in this thread, as a worker of this process would."""
    runtime = runtimes.current()
    queue = registry.get_queue(str(WorkflowRun.objects.get(pk=workflow_id).queue_name))
    claimed = queues.claim(
        queue, runtime.executor_id, 100, now or timezone.now(), registry.workflow_names()
    )
    (row,) = [row for row in claimed if row.pk == workflow_id]
    execution.execute_stored(workflow_id, runtime, row)


def test_a_message_sent_before_the_recv_is_taken_at_once_without_a_wait():
    WorkflowRun.objects.create(workflow_id="other", name="x", inputs="{}")
    durable.send("other", "not for you")
    handle = enqueue(mw.wait_for_message, None, 5, workflow_id="recv-2")
    durable.send("recv-2", "early bird")

    claim_and_execute("recv-2")

    assert handle.get_result(timeout=WAIT) == "early bird"
    # No wait: no wake-up time was recorded.
    assert step_rows("recv-2") == [(1, "durable.recv")]
    assert WorkflowMessage.objects.get(destination_id="other").consumed_at is None


def test_messages_arrive_in_order_each_once_and_per_topic():
    handle = start(mw.receive_several, "jobs", 3, 30, workflow_id="recv-3")
    durable.send("recv-3", "other topic", topic="noise")
    durable.send("recv-3", "no topic")
    for index in range(3):
        durable.send("recv-3", index, topic="jobs")

    assert handle.get_result(timeout=WAIT) == [0, 1, 2]
    unread = WorkflowMessage.objects.filter(destination_id="recv-3", consumed_at=None)
    assert sorted(str(m.topic) for m in unread) == ["None", "noise"]


def test_recv_returns_none_after_its_timeout():
    handle = start(mw.wait_for_message, "silence", 0.2, workflow_id="recv-4")
    assert handle.get_result(timeout=WAIT) is None
    assert [name for _, name in step_rows("recv-4")] == ["durable.recv", "durable.sleep"]


def test_a_repeated_send_with_an_idempotency_key_sends_once():
    WorkflowRun.objects.create(workflow_id="recv-5", name="wait_for_message", inputs="{}")
    for _ in range(3):
        durable.send("recv-5", "once", topic="t", idempotency_key="order-42")
    durable.send("recv-5", "twice", topic="t")
    durable.send("recv-5", "twice", topic="t")

    values = list(
        WorkflowMessage.objects.filter(destination_id="recv-5").values_list("message", flat=True)
    )
    assert [serialization.loads(value) for value in values] == ["once", "twice", "twice"]


def test_sending_to_an_unknown_run_raises_and_writes_nothing():
    with pytest.raises(durable.WorkflowNotFound, match="'nobody'"):
        durable.send("nobody", "hello")
    assert not WorkflowMessage.objects.exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", "x"), "workflow id"),
        (("run", "x", 5), "topic"),
        (("run", "x", "t" * 256), "topic"),
        (("run", "x", None, 3), "idempotency_key"),
        (("run", object()), "object"),
    ],
)
def test_bad_send_arguments_are_refused_before_anything_is_written(args, match):
    WorkflowRun.objects.create(workflow_id="run", name="x", inputs="{}")
    with pytest.raises((ValueError, TypeError), match=match):
        durable.send(*args)
    assert not WorkflowMessage.objects.exists()


def test_recv_outside_a_workflow_or_inside_a_step_is_refused():
    with pytest.raises(durable.InvalidStateError, match="outside a workflow"):
        durable.recv("t", 1)

    @durable.step()
    def inner() -> None:
        durable.recv("t", 1)

    @durable.workflow(name="tests.recv_in_step")
    def outer() -> None:
        inner()

    with pytest.raises(durable.InvalidStateError, match="inside a step"):
        outer()


@pytest.mark.parametrize("timeout", [-1, "5", True, 10**10])
def test_a_bad_recv_timeout_is_refused(timeout):
    with pytest.raises(ValueError, match="timeout_seconds"):
        mw.wait_for_message("t", timeout)
    with pytest.raises(ValueError, match="timeout_seconds"):
        awaiting.check_timeout(float("nan"))


def test_send_inside_a_workflow_is_a_step_and_a_replay_sends_nothing():
    WorkflowRun.objects.create(workflow_id="inbox", name="x", inputs="{}")
    with durable.SetWorkflowID("sender"):
        assert mw.send_to("inbox", "hi", "t") == "done"
    assert step_rows("sender") == [(1, "durable.send"), (2, "record")]

    # A fork from step 2 replays the send (step 1) without sending again.
    fork = durable.fork_workflow("sender", 2)
    assert testing.run_until_idle() == 1
    assert fork.get_result(timeout=WAIT) == "done"
    assert WorkflowMessage.objects.filter(destination_id="inbox").count() == 1
    assert CALLS["sent"] == 2


def test_a_send_inside_a_workflow_to_an_unknown_run_is_recorded_as_its_error():
    with durable.SetWorkflowID("sender-2"), pytest.raises(durable.WorkflowNotFound):
        mw.send_to("missing", "hi")
    step = StepOutput.objects.get(run_id="sender-2", step_number=1)
    assert step.step_name == "durable.send" and "WorkflowNotFound" in str(step.error)
    assert WorkflowRun.objects.get(pk="sender-2").status == RunStatus.ERROR


def test_a_received_message_is_not_received_again_after_a_crash():
    """The message's consumption commits with the recv's checkpoint: a run that dies right
    after its recv replays the recorded message, and the next message stays unread."""
    enqueue(mw.recv_then_step, "crash", 30, workflow_id="recv-crash")
    durable.send("recv-crash", "first", topic="go")
    with testing.crash_after_step(1, workflow="recv_then_step"):
        with pytest.raises(testing.SimulatedCrash):
            claim_and_execute("recv-crash")
    durable.send("recv-crash", "second", topic="go")
    assert CALLS["crash"] == 0

    assert testing.recover("recv-crash") == "first"
    consumed = WorkflowMessage.objects.filter(destination_id="recv-crash").order_by("pk")
    assert [(m.value, m.consumed_at is not None) for m in consumed] == [
        ("first", True),
        ("second", False),
    ]
    assert CALLS["crash"] == 1
    assert step_rows("recv-crash") == [(1, "durable.recv"), (3, "record")]


def test_a_recovered_recv_waits_only_for_what_is_left_of_its_recorded_timeout():
    with testing.crash_after_step(2, workflow="wait_for_message"):
        with durable.SetWorkflowID("recv-left"), pytest.raises(testing.SimulatedCrash):
            mw.wait_for_message("late", 3600)
    # The wait's end was recorded as step 2; move it into the past, as if the hour passed.
    StepOutput.objects.filter(run_id="recv-left", step_number=2).update(
        output=serialization.dumps(timezone.now() - timedelta(seconds=1))
    )

    assert testing.recover("recv-left") is None  # at once: not another hour


def test_recv_async_in_an_async_workflow():
    handle = start(mw.wait_for_message_async, "a", 30, workflow_id="recv-async")
    wait_until_waiting("recv-async")
    asyncio.run(durable.send_async("recv-async", [1, 2], topic="a"))
    assert handle.get_result(timeout=WAIT) == [1, 2]


def test_send_async_inside_an_async_workflow_is_recorded():
    WorkflowRun.objects.create(workflow_id="inbox-a", name="x", inputs="{}")
    with durable.SetWorkflowID("sender-a"):
        assert asyncio.run(mw.send_to_async("inbox-a", "hello")) == "sent"
    assert step_rows("sender-a") == [(1, "durable.send")]
    assert WorkflowMessage.objects.get(destination_id="inbox-a").value == "hello"


def test_recv_is_refused_on_the_event_loop_of_an_async_workflow():
    @durable.workflow(name="tests.sync_recv_in_async")
    async def wrong() -> None:
        durable.recv("t", 1)

    with pytest.raises(durable.InvalidStateError, match="recv_async"):
        asyncio.run(wrong())
