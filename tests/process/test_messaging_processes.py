"""Messages, streams and parked waits across real processes: a view's request reaching a
run that waits in a ``runscheduler``; a receiver killed right after its ``recv``; a
stream read by one process while another writes it; 500 sleepers on four threads."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.test import Client

import django_durable as durable
from django_durable import serialization
from django_durable.models import RunStatus, StepOutput, WaitingFor, WorkflowMessage, WorkflowRun
from tests import messaging_workflows as mw
from tests.models import Event
from tests.process.children import Child, Spawn, wait_until

# Children read what this process writes: commits must be real.
pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

PARK_SOON = {
    "DURABLE_TEST_PARK_THRESHOLD": "0.2",
    "DURABLE_TEST_POLL_INTERVAL": "0.1",
    "DURABLE_TEST_HEARTBEAT_INTERVAL": "0.5",
}
"""A worker whose runs park after 0.2 s of waiting and that looks for due runs often."""


def worker(spawn_worker: Spawn, executor_id: str, *options: str, env: dict[str, str]) -> Child:
    child = spawn_worker(
        "--queues", "messaging", "--no-scheduler", *options, executor_id=executor_id, env=env
    )
    child.expect_line(f"django_durable worker {executor_id}: queues")
    return child


def status_of(workflow_id: str) -> str | None:
    return WorkflowRun.objects.filter(pk=workflow_id).values_list("status", flat=True).first()


def test_a_message_sent_by_a_view_reaches_a_run_parked_in_another_process(
    spawn_worker, executor_id
):
    with durable.SetWorkflowID("view-msg"):
        handle = mw.MESSAGING_QUEUE.enqueue(mw.wait_for_message, "approval", 600)
    child = worker(spawn_worker, executor_id("worker"), env=PARK_SOON)
    # It waits in place for 0.2 s, then gives its thread back: parked on its queue.
    wait_until(
        lambda: WorkflowRun.objects.filter(
            pk="view-msg", status=RunStatus.ENQUEUED, waiting_for=WaitingFor.MESSAGE
        ).exists(),
        "the run to park",
        diagnostics=child.describe,
    )

    client = Client()
    body = json.dumps({"message": {"approved": True, "by": "ops"}, "topic": "approval"})
    for _ in range(2):  # a retried request sends once
        response = client.post(
            "/messages/view-msg/",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": "approval-1"},
        )
        assert response.status_code == 200, response.content
    assert (
        client.post("/messages/nobody/", body, content_type="application/json").status_code == 404
    )

    assert handle.get_result(timeout=30) == {"approved": True, "by": "ops"}
    run = WorkflowRun.objects.get(pk="view-msg")
    assert run.executor_id == child.executor_id and run.waiting_for is None
    assert WorkflowMessage.objects.filter(destination_id="view-msg").count() == 1


def test_a_receiver_killed_after_its_recv_neither_loses_nor_repeats_the_message(
    spawn, executor_id
):
    dead = executor_id("dead")
    child = spawn(
        "run",
        "recv_then_step",
        "--workflow-id",
        "killed-recv",
        "--args",
        '["killed"]',
        executor_id=dead,
        env={mw.HANG_AFTER_RECV: "1"},
    )
    wait_until(
        lambda: status_of("killed-recv") is not None,
        "the run to start",
        diagnostics=child.describe,
    )
    durable.send("killed-recv", "first", topic="go")
    durable.send("killed-recv", "second", topic="go")
    wait_until(
        lambda: StepOutput.objects.filter(run_id="killed-recv", step_name="durable.recv").exists(),
        "the recv to be recorded",
        diagnostics=child.describe,
    )
    child.kill()  # after recv returned, before its next step
    assert child.proc.returncode == -9, child.describe()
    assert not Event.objects.filter(label="killed").exists()

    (handle,) = durable.recover_pending_workflows([dead])

    assert handle.get_result(timeout=30) == "first"  # not lost
    messages = WorkflowMessage.objects.filter(destination_id="killed-recv").order_by("pk")
    assert [(serialization.loads(m.message), m.consumed_at is not None) for m in messages] == [
        ("first", True),
        ("second", False),  # not received in its place: "first" was not delivered twice
    ]
    assert Event.objects.filter(label="killed").count() == 1


def test_a_stream_is_read_by_another_process_while_it_is_written(spawn, executor_id):
    writer = spawn(
        "run",
        "stream_writer",
        "--workflow-id",
        "streamed",
        "--args",
        "[3, true]",
        executor_id=executor_id("writer"),
    )
    wait_until(
        lambda: status_of("streamed") is not None,
        "the writer to start",
        diagnostics=writer.describe,
    )

    read = []
    for value in durable.read_stream("streamed", "progress"):
        read.append(value)
        # The writer goes on only after this: each value was read before the next existed.
        assert StepOutput.objects.filter(
            run_id="streamed", step_name="durable.write_stream"
        ).count() == len(read)
        durable.send("streamed", None, topic="next")

    assert read == [0, 1, 2]
    assert writer.expect("result")["result"] == 3
    assert writer.finish() == 0, writer.describe()


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for {pid}")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_500_sleepers_on_four_threads_finish_in_about_a_minute(spawn_worker, executor_id):
    """Each run sleeps 10 s between two steps: held threads would take 500 / 4 * 10 s;
    parked, they all sleep at once and the worker's threads stay four."""
    count, seconds = 500, 10.0
    with transaction.atomic():
        for index in range(count):
            mw.MESSAGING_QUEUE.enqueue(mw.sleep_between_two_steps, index, seconds)
    started = time.monotonic()
    child = worker(
        spawn_worker,
        executor_id("sleepers"),
        "--concurrency",
        "4",
        env={"DURABLE_TEST_POLL_INTERVAL": "0.2"},
    )
    runs = WorkflowRun.objects.filter(name="sleep_between_two_steps")
    most_threads = most_parked = 0
    while runs.filter(status=RunStatus.SUCCESS).count() < count:
        most_threads = max(most_threads, threads_of(child.pid))
        most_parked = max(most_parked, runs.filter(waiting_for=WaitingFor.SLEEP).count())
        assert time.monotonic() - started < 120, (
            f"{runs.filter(status=RunStatus.SUCCESS).count()} of {count} done"
        )
        time.sleep(0.2)
    elapsed = time.monotonic() - started

    assert elapsed < 90, elapsed  # about a minute at most (held threads: 20 minutes)
    assert most_parked > 100  # asleep together, not four at a time
    # The main thread, the heartbeat, the flusher, a LISTEN thread (PostgreSQL), the four
    # workers: nothing grows with the number of sleepers.
    assert most_threads <= 4 + 8, most_threads
    assert set(runs.values_list("status", flat=True)) == {RunStatus.SUCCESS}
    print(f"500 sleepers: {elapsed:.1f} s, at most {most_threads} threads")
