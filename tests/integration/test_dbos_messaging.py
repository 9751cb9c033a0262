"""DBOS's messaging, events, streams, timeouts and debouncing through
``django_durable.dbos``: the same code runs after changing only the import."""

from __future__ import annotations

import time
from typing import Any

import pytest

from django_durable.dbos import DBOS, Debouncer, SetWorkflowID, SetWorkflowTimeout
from django_durable.models import RunStatus, WorkflowRun
from django_durable.testing import run_until_idle

pytestmark = pytest.mark.django_db(transaction=True)


@DBOS.workflow()
def dbos_receiver() -> Any:
    DBOS.set_event("ready", True)
    DBOS.write_stream("progress", 1)
    message = DBOS.recv("greeting", timeout_seconds=10)
    DBOS.write_stream("progress", 2)
    DBOS.close_stream("progress")
    return {"message": message, "me": DBOS.workflow_id}


@DBOS.workflow()
def dbos_sleeper(seconds: float) -> str:
    DBOS.sleep(seconds)
    return "woke"


@DBOS.workflow()
def dbos_debounced(value: int) -> int:
    return value


def test_send_recv_events_and_streams_through_the_dbos_names():
    with SetWorkflowID("dbos-receiver"):
        handle = DBOS.start_workflow(dbos_receiver)
    assert DBOS.get_event("dbos-receiver", "ready", timeout_seconds=10) is True
    DBOS.send("dbos-receiver", "hello", topic="greeting")
    assert handle.get_result() == {"message": "hello", "me": "dbos-receiver"}
    assert list(DBOS.read_stream("dbos-receiver", "progress")) == [1, 2]
    assert DBOS.get_all_events("dbos-receiver") == {"ready": True}


def test_set_workflow_timeout_cancels_a_run_past_its_deadline():
    with SetWorkflowID("dbos-timeout"), SetWorkflowTimeout(0.2):
        handle = DBOS.start_workflow(dbos_sleeper, 30)
    with pytest.raises(Exception, match="timed out"):
        handle.get_result()
    assert WorkflowRun.objects.get(pk="dbos-timeout").status == RunStatus.CANCELLED


def test_the_debouncer_collapses_calls_into_one_run():
    debouncer = Debouncer(dbos_debounced, debounce_seconds=0.2)
    first = debouncer.enqueue("key", 1)
    second = debouncer.enqueue("key", 2)
    assert first.get_workflow_id() == second.get_workflow_id()
    time.sleep(0.3)
    run_until_idle()
    assert second.get_result() == 2
    assert WorkflowRun.objects.filter(name__endswith="dbos_debounced").count() == 1
