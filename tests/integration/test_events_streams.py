"""Events (``set_event``, ``get_event``, ``get_all_events``) and streams
(``write_stream``, ``close_stream``, ``read_stream``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.db import connections

import django_durable as durable
from django_durable import testing
from django_durable.models import RunStatus, StepOutput, StreamEntry, WorkflowEvent, WorkflowRun
from tests import messaging_workflows as mw
from tests.helpers import step_rows
from tests.workflows import CALLS

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20.0


def start(fn, *args, workflow_id: str) -> durable.WorkflowHandle:
    with durable.SetWorkflowID(workflow_id):
        return durable.start_workflow(fn, *args)


# ---------------------------------------------------------------- events


def test_the_latest_event_value_wins_and_every_event_is_listed():
    handle = start(mw.publisher, ["started", "half", {"done": 0.5}], workflow_id="pub")

    assert durable.get_event("pub", "other", timeout_seconds=WAIT) == {"n": 3}
    assert durable.get_event("pub", "status", timeout_seconds=0) == {"done": 0.5}
    assert durable.get_all_events("pub") == {"other": {"n": 3}, "status": {"done": 0.5}}
    assert WorkflowEvent.objects.filter(run_id="pub").count() == 2
    durable.send("pub", None, topic="done")
    assert handle.get_result(timeout=WAIT) == "published"
    names = [name for _, name in step_rows("pub")]
    # (durable.sleep, the wait's end, follows unless the message came before the recv)
    assert names[:5] == ["durable.set_event"] * 4 + ["durable.recv"]


def test_get_event_waits_for_the_event_and_gives_none_after_its_timeout():
    assert durable.get_event("nobody-yet", "status", timeout_seconds=0.1) is None
    got: list[Any] = []

    def wait() -> None:
        try:
            got.append(durable.get_event("late-pub", "status", timeout_seconds=WAIT))
        finally:
            connections.close_all()

    waiter = threading.Thread(target=wait)
    waiter.start()
    handle = start(mw.publisher, ["ready"], workflow_id="late-pub")
    waiter.join(WAIT)
    assert got == ["ready"]
    durable.send("late-pub", None, topic="done")
    handle.get_result(timeout=WAIT)


def test_get_event_inside_a_workflow_is_recorded_and_replays_the_first_value():
    WorkflowRun.objects.create(workflow_id="source", name="x", inputs="{}")
    WorkflowEvent.objects.create(run_id="source", key="k", value='"first"')
    with durable.SetWorkflowID("reader"):
        first = mw.event_reader("source", "k", 1)
    assert first == {"value": "first", "all": {"k": "first"}, "after": "x"}
    assert [name for _, name in step_rows("reader")] == [
        "durable.get_event",
        "durable.get_all_events",
        "record",
    ]

    # get_event is step 1 (2 is its unused wait), get_all_events 3. The event changes; a
    # fork that replays the reads sees what the first run saw.
    WorkflowEvent.objects.filter(run_id="source").update(value='"second"')
    fork = durable.fork_workflow("reader", 4)
    testing.run_until_idle()
    assert fork.get_result(timeout=WAIT) == first


def test_get_event_inside_a_workflow_times_out_with_none():
    with durable.SetWorkflowID("reader-2"):
        result = mw.event_reader("nobody", "k", 0.1)
    assert result["value"] is None and result["all"] == {}
    assert [name for _, name in step_rows("reader-2")][:2] == [
        "durable.get_event",
        "durable.sleep",
    ]


def test_async_event_readers():
    WorkflowRun.objects.create(workflow_id="source-a", name="x", inputs="{}")
    WorkflowEvent.objects.create(run_id="source-a", key="k", value="7")
    with durable.SetWorkflowID("reader-a"):
        assert asyncio.run(mw.event_reader_async("source-a", "k", 1)) == {
            "value": 7,
            "all": {"k": 7},
        }
    assert asyncio.run(durable.get_event_async("source-a", "k", 0)) == 7
    assert asyncio.run(durable.get_event_async("source-a", "missing", 0.05)) is None
    assert asyncio.run(durable.get_all_events_async("source-a")) == {"k": 7}


def test_set_event_inside_a_step_publishes_for_the_step_s_workflow():
    with durable.SetWorkflowID("pub-step"):
        assert mw.publisher_with_step([1]) == "ok"
    assert durable.get_all_events("pub-step") == {"from-step": [1]}
    assert step_rows("pub-step") == [(1, "publish_in_step")]


def test_set_event_outside_a_workflow_is_refused():
    with pytest.raises(durable.InvalidStateError, match="inside a workflow"):
        durable.set_event("k", 1)
    with pytest.raises(ValueError, match="key"):
        durable.get_event("run", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="object"):
        mw.publisher([object()])


# ---------------------------------------------------------------- streams


def test_a_stream_is_read_in_order_while_it_is_written():
    handle = start(mw.stream_writer, 3, True, workflow_id="writer")
    read: list[Any] = []
    for value in durable.read_stream("writer", "progress"):
        read.append(value)
        durable.send("writer", None, topic="next")  # the writer goes on only after a read
    assert read == [0, 1, 2]
    assert handle.get_result(timeout=WAIT) == 3
    entries = StreamEntry.objects.filter(run_id="writer").order_by("position")
    assert [(e.position, e.closed) for e in entries] == [(0, 0), (1, 0), (2, 0), (3, 1)]


def test_a_stream_ends_when_its_run_finishes_without_closing_it():
    with durable.SetWorkflowID("unclosed"):
        mw.stream_writer(2, False, False)
    assert list(durable.read_stream("unclosed", "progress")) == [0, 1]
    assert list(durable.read_stream("unclosed", "other")) == []
    assert list(durable.read_stream("no-such-run", "progress")) == []


def test_writing_after_close_fails_the_workflow_and_closing_twice_does_not():
    with durable.SetWorkflowID("closed"), pytest.raises(durable.InvalidStateError, match="closed"):
        mw.write_after_close()
    assert list(durable.read_stream("closed", "s")) == [1]
    assert WorkflowRun.objects.get(pk="closed").status == RunStatus.ERROR


def test_each_stream_write_is_recorded_once_and_a_fork_keeps_the_values_before_it():
    with durable.SetWorkflowID("once"):
        mw.stream_writer(3)
    with durable.SetWorkflowID("once"):
        assert mw.stream_writer(3) == 3  # the recorded result: nothing runs again
    assert StreamEntry.objects.filter(run_id="once").count() == 4
    assert [name for _, name in step_rows("once")] == [
        "durable.write_stream",
        "durable.write_stream",
        "durable.write_stream",
        "durable.close_stream",
    ]

    # A fork from step 3 replays the first two writes (their values are copied with the
    # steps) and writes the third and the end itself.
    fork = durable.fork_workflow("once", 3)
    testing.run_until_idle()
    assert fork.get_result(timeout=WAIT) == 3
    assert list(durable.read_stream(fork.workflow_id, "progress")) == [0, 1, 2]
    copied = StreamEntry.objects.filter(run_id=fork.workflow_id).order_by("position")
    assert [(e.position, e.step_number) for e in copied] == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_a_fork_keeps_the_events_set_before_its_start_step():
    handle = start(mw.publisher, ["a", "b"], workflow_id="pub-fork")
    durable.send("pub-fork", None, topic="done")
    handle.get_result(timeout=WAIT)
    fork = durable.fork_workflow("pub-fork", 2)
    assert durable.get_all_events(fork.workflow_id) == {"status": "a"}
    durable.send(fork.workflow_id, None, topic="done")
    testing.run_until_idle()
    assert fork.get_result(timeout=WAIT) == "published"
    assert durable.get_all_events(fork.workflow_id) == durable.get_all_events("pub-fork")


def test_a_step_may_write_to_its_workflow_s_stream():
    with durable.SetWorkflowID("step-writer"):
        mw.stream_from_step({"a": 1})
    assert list(durable.read_stream("step-writer", "steps")) == [{"a": 1}]


def test_async_streams():
    with durable.SetWorkflowID("async-writer"):
        assert asyncio.run(mw.stream_writer_async(2)) == 2

    async def read() -> list[Any]:
        return [value async for value in durable.read_stream_async("async-writer", "progress")]

    assert asyncio.run(read()) == [{"i": 0}, {"i": 1}]


def test_reading_a_stream_inside_a_workflow_records_each_value():
    with durable.SetWorkflowID("source-s"):
        mw.stream_writer(2)
    with durable.SetWorkflowID("stream-reader"):
        assert mw.stream_reader("source-s", "progress") == [0, 1]
    assert [name for _, name in step_rows("stream-reader")] == [
        "durable.read_stream",
        "durable.read_stream",
        "durable.read_stream",
        "record",
    ]
    # A replay from the last step reads the recorded values, not the table.
    StreamEntry.objects.filter(run_id="source-s").delete()
    fork = durable.fork_workflow("stream-reader", 4)
    testing.run_until_idle()
    assert fork.get_result(timeout=WAIT) == [0, 1]
    assert CALLS["stream-read"] == 2


def test_stream_calls_outside_a_workflow_are_refused():
    with pytest.raises(durable.InvalidStateError, match="inside a workflow"):
        durable.write_stream("k", 1)
    with pytest.raises(durable.InvalidStateError, match="inside a workflow"):
        durable.close_stream("k")
    with pytest.raises(ValueError, match="key"):
        list(durable.read_stream("run", None))  # type: ignore[arg-type]
    assert not StepOutput.objects.exists()
