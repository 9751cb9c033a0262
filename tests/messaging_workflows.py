"""Workflows of the messaging, events, streams, timeouts, debouncing and parking tests.

Imported by ``tests.workflows``, so ``runscheduler`` children (which import each app's
``workflows`` module) and ``run_workflow.py`` know them too. Step bodies count their
executions in ``tests.workflows.CALLS`` and, across processes, with ``Event`` rows.
"""

from __future__ import annotations

import os
import time
from typing import Any

import django_durable as durable
from tests.models import Event

MESSAGING_QUEUE = durable.Queue("messaging")
"""Runs the tests enqueue for a worker (they may park)."""
NARROW_QUEUE = durable.Queue("messaging-narrow", concurrency=1)
"""One run at a time, across all processes."""

HANG_AFTER_RECV = "DURABLE_TEST_HANG_AFTER_RECV"
"""Set in a child's environment: ``recv_then_step`` stands still after its ``recv``."""


def _calls() -> Any:
    from tests.workflows import CALLS

    return CALLS


@durable.step()
def record(label: str, value: Any) -> Any:
    """Count the call (``CALLS[label]``, and an ``Event`` row for other processes)."""
    _calls()[label] += 1
    Event.objects.create(label=label, value=1)
    return value


@durable.workflow()
def wait_for_message(topic: str | None = None, timeout: float = 30) -> Any:
    return durable.recv(topic, timeout)


@durable.workflow()
async def wait_for_message_async(topic: str | None = None, timeout: float = 30) -> Any:
    return await durable.recv_async(topic, timeout)


@durable.workflow()
def receive_several(topic: str | None, count: int, timeout: float = 30) -> list[Any]:
    return [durable.recv(topic, timeout) for _ in range(count)]


@durable.workflow()
def recv_then_step(label: str, timeout: float = 30) -> Any:
    """Receive on ``go``, then record it in a step (stands still between the two while
    ``DURABLE_TEST_HANG_AFTER_RECV`` is set, until the test kills the process)."""
    message = durable.recv("go", timeout)
    if os.environ.get(HANG_AFTER_RECV):
        time.sleep(120)
    return record(label, message)


@durable.workflow()
def send_to(destination: str, message: Any, topic: str | None = None) -> Any:
    durable.send(destination, message, topic)
    return record("sent", "done")


@durable.workflow()
async def send_to_async(destination: str, message: Any, topic: str | None = None) -> str:
    await durable.send_async(destination, message, topic)
    return "sent"


@durable.workflow()
def publisher(values: list[Any]) -> str:
    """Set ``status`` to each value in turn, then wait for ``done`` before finishing."""
    for value in values:
        durable.set_event("status", value)
    durable.set_event("other", {"n": len(values)})
    durable.recv("done", 30)
    return "published"


@durable.step()
def publish_in_step(value: Any) -> None:
    durable.set_event("from-step", value)


@durable.workflow()
def publisher_with_step(value: Any) -> str:
    publish_in_step(value)
    return "ok"


@durable.workflow()
def event_reader(workflow_id: str, key: str, timeout: float = 30) -> Any:
    value = durable.get_event(workflow_id, key, timeout)
    everything = durable.get_all_events(workflow_id)
    return {"value": value, "all": everything, "after": record("event-read", "x")}


@durable.workflow()
async def event_reader_async(workflow_id: str, key: str, timeout: float = 30) -> Any:
    value = await durable.get_event_async(workflow_id, key, timeout)
    return {"value": value, "all": await durable.get_all_events_async(workflow_id)}


@durable.workflow()
def stream_writer(count: int, handshake: bool = False, close: bool = True) -> int:
    """Write 0..count-1 to ``progress`` (after each, with ``handshake``, wait for a
    ``next`` message from the reader), then close the stream."""
    for index in range(count):
        durable.write_stream("progress", index)
        if handshake:
            durable.recv("next", 60)
    if close:
        durable.close_stream("progress")
    return count


@durable.workflow()
async def stream_writer_async(count: int) -> int:
    for index in range(count):
        await durable.write_stream_async("progress", {"i": index})
    await durable.close_stream_async("progress")
    return count


@durable.step()
def write_in_step(value: Any) -> None:
    durable.write_stream("steps", value)


@durable.workflow()
def stream_from_step(value: Any) -> str:
    write_in_step(value)
    durable.close_stream("steps")
    return "ok"


@durable.workflow()
def write_after_close() -> str:
    durable.write_stream("s", 1)
    durable.close_stream("s")
    durable.close_stream("s")  # closing again does nothing
    durable.write_stream("s", 2)
    return "unreachable"


@durable.workflow()
def stream_reader(workflow_id: str, key: str) -> list[Any]:
    values = list(durable.read_stream(workflow_id, key))
    record("stream-read", None)
    return values


@durable.workflow()
def sleep_between_steps(label: str, seconds: float) -> str:
    record(f"{label}-1", None)
    durable.sleep(seconds)
    record(f"{label}-2", None)
    return label


@durable.workflow()
async def sleep_between_steps_async(label: str, seconds: float) -> str:
    durable.workflow_id()
    await durable.sleep_async(seconds)
    return label


@durable.workflow()
def timeout_child(label: str) -> str:
    durable.recv("never", 60)
    record(f"late-{label}", None)
    return label


@durable.workflow()
def timeout_parent() -> str:
    started = durable.start_workflow(timeout_child, "started")
    queued = MESSAGING_QUEUE.enqueue(timeout_child, "queued")
    record("parent-early", [started.workflow_id, queued.workflow_id])
    durable.recv("never", 60)
    record("late-parent", None)
    return "unreachable"


@durable.workflow()
def timeout_sleeper(seconds: float) -> str:
    durable.sleep(seconds)
    record("late-sleeper", None)
    return "woke"


@durable.workflow()
def inherit_parent() -> dict[str, Any]:
    child = durable.start_workflow(plain_child)
    with durable.SetWorkflowTimeout(None):
        free = durable.start_workflow(plain_child)
    with durable.SetWorkflowTimeout(120):
        own = MESSAGING_QUEUE.enqueue(plain_child)
    return {"child": child.workflow_id, "free": free.workflow_id, "own": own.workflow_id}


@durable.workflow()
def plain_child() -> str:
    return "child"


@durable.workflow()
def debounced(value: Any) -> Any:
    return record("debounced", value)


@durable.workflow()
def debounce_inside(key: str, values: list[Any]) -> list[str]:
    debouncer = durable.Debouncer(debounced, 60, queue=MESSAGING_QUEUE)
    return [debouncer.enqueue(key, value).workflow_id for value in values]


@durable.workflow()
def enqueue_return_existing(dedup: str) -> list[str]:
    ids = []
    for value in (1, 2):
        with durable.SetEnqueueOptions(
            deduplication_id=dedup, deduplication_policy="return_existing"
        ):
            ids.append(MESSAGING_QUEUE.enqueue(plain_child).workflow_id)
        record("dedup", value)
    return ids


@durable.step()
def touch(index: int) -> int:
    return index


@durable.workflow()
def sleep_between_two_steps(index: int, seconds: float) -> int:
    touch(index)
    durable.sleep(seconds)
    return touch(index + 1)
