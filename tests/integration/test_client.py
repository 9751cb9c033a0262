"""``django_durable.client``: enqueue by workflow name from a process that does not import
the workflow's code; and the ``DBOS`` / ``DBOSClient`` classes of ``django_durable.dbos``.

Modelled on DBOS Transact's ``test_client`` (enqueue, versions, idempotency, priority,
deduplication, partitions) and ``test_dbos`` (``DBOS.workflow_id``, ``DBOS.step_id``,
``DBOS.step_status``, ``DBOS.sql_session`` inside ``@DBOS.transaction``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.test import override_settings

import django_durable as durable
from django_durable import client, dbos, registry
from django_durable.dbos import DBOS, DBOSClient, SetWorkflowID, WorkflowHandleAsync
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.testing import run_until_idle
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = "queues-plain"
OPTIONS = {"queue_name": PLAIN, "workflow_name": "three_steps"}


@DBOS.transaction(isolation_level="SERIALIZABLE")
def counted_in_sql(value: str) -> str:
    assert DBOS.step_id == 1
    rows = DBOS.sql_session.execute("SELECT 1 + :n", {"n": 1}).fetchall()
    return value + str(rows[0][0])


@DBOS.step()
def observed() -> list[Any]:
    status = DBOS.step_status
    return [DBOS.workflow_id, DBOS.step_id, status.step_id, status.current_attempt]


@DBOS.workflow()
def dbos_workflow(value: str) -> list[Any]:
    return [counted_in_sql(value), observed(), DBOS.workflow_id, DBOS.step_id]


def test_enqueue_by_name_runs_on_a_worker_that_has_the_code():
    handle = client.enqueue({**OPTIONS, "workflow_id": "by-name"}, 41)
    assert handle.workflow_id == "by-name"
    run = WorkflowRun.objects.get(pk="by-name")
    assert (run.status, run.name, run.queue_name, run.application_version) == (
        RunStatus.ENQUEUED,
        "three_steps",
        PLAIN,
        None,
    )
    with override_settings(DURABLE={"APPLICATION_VERSION": "w1"}):
        assert run_until_idle() == 1
    assert client.retrieve_workflow("by-name").get_result(timeout=5) == "value=84"
    status = durable.get_workflow_status("by-name")
    assert status is not None and status.app_version == "w1"  # stamped by the worker


def test_enqueue_is_idempotent_by_workflow_id_and_refuses_another_workflow():
    client.enqueue({**OPTIONS, "workflow_id": "once"}, 1)
    client.enqueue({**OPTIONS, "workflow_id": "once"}, 1)
    assert WorkflowRun.objects.filter(pk="once").count() == 1
    with pytest.raises(durable.WorkflowConflict, match="'once'"):
        client.enqueue({"queue_name": PLAIN, "workflow_name": "double", "workflow_id": "once"})


def test_an_app_version_holds_the_run_for_workers_of_that_version():
    client.enqueue({**OPTIONS, "workflow_id": "pinned", "app_version": "0123456789abcdef"}, 1)
    with override_settings(DURABLE={"APPLICATION_VERSION": "another"}):
        assert run_until_idle() == 0
    status = durable.get_workflow_status("pinned")
    assert status is not None
    assert (status.status, status.app_version) == ("ENQUEUED", "0123456789abcdef")


def test_priority_deduplication_and_class_methods():
    client.enqueue({**OPTIONS, "workflow_id": "p", "priority": 5, "deduplication_id": "d"}, 1)
    with pytest.raises(durable.QueueDeduplicatedError):
        client.enqueue({**OPTIONS, "deduplication_id": "d"}, 1)
    run = WorkflowRun.objects.get(pk="p")
    assert (run.priority, run.deduplication_id) == (5, "d")
    handle = client.enqueue(
        {
            "queue_name": PLAIN,
            "workflow_name": "DataWorkflows.class_level",
            "workflow_class_name": "DataWorkflows",
        },
        3,
    )
    run_until_idle()
    assert handle.get_result(timeout=5) == workflows.DataWorkflows.class_level(3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workflow_name": "three_steps"}, "queue_name"),
        ({**OPTIONS, "workflow_id": ""}, "workflow_id"),
        ({**OPTIONS, "priority": "high"}, "priority"),
        ({**OPTIONS, "bogus": 1}, "bogus"),
        ({**OPTIONS, "deduplication_id": "d", "queue_partition_key": "k"}, "partition"),
        ({**OPTIONS, "queue_name": "_durable_internal"}, "internal"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(options: Any, message: str):
    with pytest.raises(ValueError, match=message):
        client.enqueue(options, 1)
    assert not WorkflowRun.objects.exists()


def test_inputs_that_cannot_be_stored_are_refused():
    with pytest.raises(durable.SerializationError):
        client.enqueue(OPTIONS, object())
    assert not WorkflowRun.objects.exists()


def test_partition_keys_must_fit_the_queue_row():
    durable.register_queue("client-parts", partition_queue=True)
    with pytest.raises(durable.InvalidStateError, match="partitioned"):
        client.enqueue({"queue_name": "client-parts", "workflow_name": "three_steps"}, 1)
    handle = client.enqueue(
        {"queue_name": "client-parts", "workflow_name": "three_steps", "queue_partition_key": "t"},
        1,
    )
    run_until_idle()
    assert handle.get_result(timeout=5) == "value=4"


def test_enqueue_async_and_the_dbos_client():
    async def go() -> Any:
        handle = await client.enqueue_async({**OPTIONS, "workflow_id": "aio"}, 2)
        dbos_client = DBOSClient("postgresql://ignored")
        other = await dbos_client.enqueue_async({**OPTIONS, "workflow_id": "aio-2"}, 3)
        return handle, other

    handle, other = asyncio.run(go())
    assert isinstance(other, WorkflowHandleAsync)
    run_until_idle()
    assert handle.get_result(timeout=5) == "value=6"
    dbos_client = DBOSClient()
    assert dbos_client.retrieve_workflow("aio-2").get_result(timeout=5) == "value=8"
    assert [s.workflow_id for s in dbos_client.list_workflows(workflow_id_prefix="aio")] == [
        "aio",
        "aio-2",
    ]
    assert asyncio.run(other.get_result()) == "value=8"
    dbos_client.destroy()


def test_the_client_refuses_to_enqueue_from_inside_a_workflow():
    with pytest.raises(durable.InvalidStateError, match="enqueue"):
        with SetWorkflowID("enqueuer"):
            workflows.reads_another_run("nothing") if False else _enqueue_inside()


@durable.workflow()
def enqueues_by_name() -> str:
    return client.enqueue(OPTIONS, 1).workflow_id


def _enqueue_inside() -> str:
    return enqueues_by_name()


def test_the_clients_send_and_get_event_reach_a_run():
    from tests import messaging_workflows

    with SetWorkflowID("client-publisher"):
        publisher = durable.start_workflow(messaging_workflows.publisher, ["first", "last"])
    assert client.get_event("client-publisher", "status", timeout_seconds=10) in (
        "first",
        "last",
    )
    client.send("client-publisher", "stop", topic="done")
    assert publisher.get_result(timeout=10)
    assert client.get_event("client-publisher", "status", timeout_seconds=0) == "last"
    assert asyncio.run(client.get_event_async("client-publisher", "other", 0)) == {"n": 2}
    with pytest.raises(durable.WorkflowNotFound):
        client.send("no-such-run", "hello")


# ---------------------------------------------------------------- the DBOS class


def test_dbos_attributes_inside_workflows_steps_and_transactions():
    with SetWorkflowID("dbos-attrs"):
        result = dbos_workflow("bob")
    assert result == ["bob2", ["dbos-attrs", 2, 2, None], "dbos-attrs", None]
    assert DBOS.workflow_id is None and DBOS.step_id is None and DBOS.step_status is None
    assert [s.step_name for s in StepOutput.objects.filter(run_id="dbos-attrs")] == [
        "counted_in_sql",
        "observed",
    ]
    with pytest.raises(durable.InvalidStateError, match="sql_session"):
        DBOS.sql_session  # noqa: B018


def test_dbos_lifecycle_calls_are_harmless_and_errors_map_onto_ours(caplog):
    instance = DBOS(config={"name": "app", "application_version": "elsewhere"})
    DBOS.launch()
    DBOS.destroy(destroy_registry=True)
    DBOS.listen_queues(["a"])
    assert instance.config["name"] == "app"
    assert "application_version" in caplog.text and "--queues a" in caplog.text
    assert DBOS.application_version is None
    assert DBOS.executor_id
    assert DBOS.logger is durable.logger
    assert dbos.DBOSException is durable.DurableError
    assert dbos.DBOSNonExistentWorkflowError is durable.WorkflowNotFound
    assert dbos.DBOSUnexpectedStepError is durable.NonDeterministicWorkflowError
    assert issubclass(dbos.DBOSStepTimeoutError, dbos.DBOSException)
    with pytest.raises(AttributeError, match="no_such_thing"):
        DBOS.no_such_thing  # noqa: B018
    assert dbos.WorkflowStatusString.ENQUEUED == "ENQUEUED"


def test_dbos_queue_takes_dbos_positional_order(clean_registry):
    queue = dbos.Queue("dbos-order", 3, {"limit": 2, "period": 1.0}, worker_concurrency=1)
    assert (queue.concurrency, queue.worker_concurrency, queue.limiter) == (
        3,
        1,
        {"limit": 2, "period": 1.0},
    )
    # Declared by this module (seen through the subclass), as a clash would report it.
    assert registry._queues["dbos-order"][0] == __name__


def test_dbos_start_retrieve_and_enqueue_workflow():
    handle = DBOS.start_workflow(workflows.three_steps, 1)
    assert handle.get_result(timeout=5) == "value=4"
    assert DBOS.get_result(handle.workflow_id) == "value=4"
    assert DBOS.get_result("missing") is None
    assert DBOS.retrieve_workflow("missing", existing_workflow=False).workflow_id == "missing"
    with pytest.raises(dbos.DBOSNonExistentWorkflowError):
        DBOS.retrieve_workflow("missing")
    queued = DBOS.enqueue_workflow(PLAIN, workflows.three_steps, 2)
    run_until_idle()
    assert queued.get_result(timeout=5) == "value=6"

    async def go() -> list[Any]:
        started = await DBOS.start_workflow_async(workflows.three_steps, 3)
        enqueued = await DBOS.enqueue_workflow_async(PLAIN, workflows.three_steps, 4)
        return [started, enqueued, await started.get_result()]

    started, enqueued, result = asyncio.run(go())
    assert isinstance(started, WorkflowHandleAsync) and result == "value=8"
    run_until_idle()
    assert asyncio.run(enqueued.get_result()) == "value=10"
    assert asyncio.run(DBOS.cancel_workflow_async(enqueued.workflow_id)) is False
