"""Queues in the database: register, retrieve, list, change and delete them at runtime;
queues declared in code written as rows; workers applying the settings in force.

Modelled on DBOS Transact's queue tests (``test_queue_crud``,
``test_queue_dynamic_config``, ``test_dynamic_concurrency_takes_effect``,
``test_enqueue_on_nonexistent_queue``, ``test_queue_delete_and_recreate``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

import django_durable as durable
from django_durable import queue_store, queues, registry
from django_durable.dbos import DBOS
from django_durable.models import QueueOrigin, RunStatus, WorkflowQueue, WorkflowRun
from django_durable.queue_board import QueueBoard
from django_durable.queue_limits import Limiter
from django_durable.testing import run_until_idle
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def settings(queue: queues.Queue) -> tuple[object, ...]:
    return (
        queue.concurrency,
        queue.worker_concurrency,
        queue.limiter,
        queue.priority_enabled,
        queue.partition_queue,
        queue.polling_interval_sec,
    )


# ---------------------------------------------------------------- the API


def test_register_retrieve_list_and_delete():
    assert durable.retrieve_queue("crud") is None
    assert "crud" not in [queue.name for queue in durable.list_queues()]
    registered = durable.register_queue(
        "crud",
        concurrency=10,
        worker_concurrency=2,
        limiter={"limit": 5, "period": 1.5},
        priority_enabled=True,
        polling_interval_sec=2.5,
    )
    assert registered.name == "crud" and not registered.declared
    with pytest.raises(durable.RegistrationError):
        registry.get_queue("crud")  # not a code declaration of this process
    retrieved = durable.retrieve_queue("crud")
    listed = {queue.name: queue for queue in durable.list_queues()}["crud"]
    for queue in (registered, retrieved, listed):
        assert queue is not None
        assert settings(queue) == (10, 2, {"limit": 5, "period": 1.5}, True, False, 2.5)
        assert queue.limiter == Limiter(limit=5, period=1.5)
        assert queue.global_concurrency == 10
    row = WorkflowQueue.objects.get(pk="crud")
    assert (row.origin, row.limiter_limit, row.limiter_period) == (QueueOrigin.RUNTIME, 5, 1.5)

    # never_update leaves the row; always_update (the default) replaces every setting.
    durable.register_queue("crud", concurrency=99, on_conflict="never_update")
    assert durable.retrieve_queue("crud").concurrency == 10  # type: ignore[union-attr]
    durable.register_queue("crud", concurrency=20)
    assert settings(durable.retrieve_queue("crud")) == (20, None, None, False, False, None)  # type: ignore[arg-type]

    assert durable.delete_queue("crud") is True
    assert durable.retrieve_queue("crud") is None
    assert durable.delete_queue("crud") is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"worker_concurrency": -1}, "worker_concurrency"),
        ({"concurrency": 1, "worker_concurrency": 2}, "worker_concurrency"),
        ({"limiter": {"limit": 1}}, "limiter"),
        ({"polling_interval_sec": 0}, "polling_interval_sec"),
        ({"partition_queue": "yes"}, "partition_queue"),
        ({"concurrency": 1, "global_concurrency": 1}, "concurrency"),
        ({"on_conflict": "sometimes"}, "on_conflict"),
    ],
)
def test_bad_settings_are_refused_and_write_nothing(kwargs: dict[str, object], field: str):
    with pytest.raises(durable.InvalidQueueError) as caught:
        durable.register_queue("bad", **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert not WorkflowQueue.objects.filter(pk="bad").exists()


def test_setters_write_the_row_and_check_against_its_current_state():
    queue = durable.register_queue("dyn", concurrency=4, worker_concurrency=2)
    queue.set_global_concurrency(8)
    queue.set_worker_concurrency(3)
    queue.set_limiter({"limit": 7, "period": 2.0})
    queue.set_priority_enabled(True)
    queue.set_polling_interval_sec(0.5)
    fresh = durable.retrieve_queue("dyn")
    for item in (queue, fresh):
        assert settings(item) == (8, 3, {"limit": 7, "period": 2.0}, True, False, 0.5)  # type: ignore[arg-type]
    with pytest.raises(durable.InvalidQueueError, match="worker_concurrency"):
        queue.set_worker_concurrency(100)
    with pytest.raises(durable.InvalidQueueError, match="polling_interval_sec"):
        queue.set_polling_interval_sec(0.0)
    queue.set_limiter(None)
    assert durable.retrieve_queue("dyn").limiter is None  # type: ignore[union-attr]

    # A stale object is checked against the row, not against what it last saw.
    one, two = durable.retrieve_queue("dyn"), durable.retrieve_queue("dyn")
    assert one is not None and two is not None
    one.set_concurrency(10)
    one.set_worker_concurrency(5)
    with pytest.raises(durable.InvalidQueueError):
        two.set_concurrency(2)
    assert durable.retrieve_queue("dyn").concurrency == 10  # type: ignore[union-attr]

    durable.delete_queue("dyn")
    with pytest.raises(durable.QueueNotFound, match="'dyn'"):
        one.set_concurrency(3)


def test_async_variants():
    async def scenario() -> tuple[object, ...]:
        queue = await durable.register_queue_async("aio", concurrency=3)
        await queue.set_worker_concurrency_async(2)
        found = await durable.retrieve_queue_async("aio")
        names = [item.name for item in await durable.list_queues_async()]
        deleted = await durable.delete_queue_async("aio")
        return found.worker_concurrency if found else None, "aio" in names, deleted

    assert asyncio.run(scenario()) == (2, True, True)


# ---------------------------------------------------------------- queues declared in code


def test_declared_queues_are_written_by_a_worker_and_runtime_edits_survive_restarts(
    clean_registry,
):
    declared = durable.Queue("declared-q", concurrency=2)
    assert durable.retrieve_queue("declared-q").concurrency == 2  # type: ignore[union-attr]
    assert not WorkflowQueue.objects.filter(pk="declared-q").exists()
    assert "declared-q" in queue_store.sync_code_queues().created
    row = WorkflowQueue.objects.get(pk="declared-q")
    assert (row.origin, row.concurrency) == (QueueOrigin.CODE, 2)

    declared.set_concurrency(5)  # for every process, until the code changes
    assert declared.concurrency == 5
    result = queue_store.sync_code_queues()
    assert "declared-q" not in result.created + result.updated
    assert WorkflowQueue.objects.get(pk="declared-q").concurrency == 5

    # The declaration changes in the code (a deploy): it replaces the runtime edit.
    registry._queues.pop("declared-q")
    durable.Queue("declared-q", concurrency=3)
    assert queue_store.sync_code_queues().updated == ["declared-q"]
    assert WorkflowQueue.objects.get(pk="declared-q").concurrency == 3

    with pytest.raises(durable.InvalidStateError, match="declared in code"):
        durable.delete_queue("declared-q")


def test_a_setter_on_a_declared_queue_no_worker_wrote_yet_writes_it(clean_registry):
    declared = durable.Queue("early-q", worker_concurrency=1)
    declared.set_limiter({"limit": 3, "period": 10})
    row = WorkflowQueue.objects.get(pk="early-q")
    assert (row.origin, row.worker_concurrency, row.limiter_limit) == (QueueOrigin.CODE, 1, 3)


def test_a_worker_writes_the_declared_queues_when_it_starts():
    run_until_idle()
    names = set(WorkflowQueue.objects.values_list("name", flat=True))
    assert {queue.name for queue in registry.all_queues()} - names == {queues.INTERNAL_QUEUE_NAME}


# ---------------------------------------------------------------- workers


def test_a_run_enqueued_on_a_queue_nobody_has_waits_until_the_queue_is_registered():
    handle = DBOS.enqueue_workflow("later-q", workflows.three_steps, 7)
    assert run_until_idle() == 0
    assert handle.get_status().status == RunStatus.ENQUEUED
    durable.register_queue("later-q")
    assert run_until_idle() == 1
    assert handle.get_result(timeout=5) == "value=16"


def test_a_deleted_queue_can_be_registered_again_and_serves_its_runs():
    durable.register_queue("again-q")
    first = DBOS.enqueue_workflow("again-q", workflows.three_steps, 1)
    assert run_until_idle() == 1 and first.get_result(timeout=5) == "value=4"
    durable.delete_queue("again-q")
    second = DBOS.enqueue_workflow("again-q", workflows.three_steps, 2)
    assert run_until_idle() == 0
    durable.register_queue("again-q", concurrency=5)
    assert durable.retrieve_queue("again-q").concurrency == 5  # type: ignore[union-attr]
    assert run_until_idle() == 1 and second.get_result(timeout=5) == "value=6"


def test_a_running_worker_applies_a_new_concurrency_at_once(worker_thread):
    queue = durable.register_queue("grow-q", concurrency=1)
    ids = [
        DBOS.enqueue_workflow("grow-q", workflows.waits_for_gate, i).workflow_id for i in range(3)
    ]
    pending = WorkflowRun.objects.filter(pk__in=ids, status=RunStatus.PENDING)
    worker_thread(concurrency=4)
    wait_until(lambda: pending.count() == 1)
    queue.set_concurrency(3)
    wait_until(lambda: pending.count() == 3)
    workflows.GATE.set()
    wait_until(
        lambda: WorkflowRun.objects.filter(pk__in=ids, status=RunStatus.SUCCESS).count() == 3
    )


def test_each_queue_is_polled_at_its_own_interval_and_a_wake_up_polls_all(clean_registry):
    slow = durable.register_queue("slow-q", polling_interval_sec=3600)
    board = QueueBoard(None, default_interval=1.0)
    first = {queue.name for queue in board.to_claim(woken=False)}
    assert {"slow-q", queues.INTERNAL_QUEUE_NAME} <= first
    assert "slow-q" not in {queue.name for queue in board.to_claim(woken=False)}
    assert "slow-q" in {queue.name for queue in board.to_claim(woken=True)}
    assert board.next_poll_in() <= 1.0  # the internal queue's default interval
    assert slow.polling_interval_sec == 3600


def test_a_worker_with_named_queues_serves_a_registered_queue_and_refuses_an_unknown_one(worker):
    durable.register_queue("named-q")
    handle = DBOS.enqueue_workflow("named-q", workflows.three_steps, 1)
    assert worker("named-q") == 1
    assert handle.get_result(timeout=5) == "value=4"
    with pytest.raises(durable.RegistrationError, match="nowhere-q"):
        worker("nowhere-q")


# ---------------------------------------------------------------- partitioned queues


def enqueue_on(queue_name: str, key: str, count: int = 1, fn=workflows.three_steps) -> list[str]:
    ids = []
    for i in range(count):
        with durable.SetEnqueueOptions(queue_partition_key=key):
            ids.append(DBOS.enqueue_workflow(queue_name, fn, i).workflow_id)
    return ids


def claim(queue_name: str, max_runs: int = 10) -> list[WorkflowRun]:
    queue = durable.retrieve_queue(queue_name)
    assert queue is not None
    return queues.claim(queue, "claimer", max_runs, timezone.now(), registry.workflow_names())


def test_the_limits_of_a_partitioned_queue_apply_to_each_partition():
    durable.register_queue("tenants", partition_queue=True, concurrency=1)
    busy = enqueue_on("tenants", "busy", 5)
    small = enqueue_on("tenants", "small", 1) + enqueue_on("tenants", "tiny", 1)
    taken = claim("tenants")
    assert sorted(run.queue_partition_key for run in taken) == ["busy", "small", "tiny"]
    assert {run.pk for run in taken} >= set(small)
    assert claim("tenants") == []  # each partition is at its limit
    WorkflowRun.objects.filter(pk=busy[0]).update(status=RunStatus.SUCCESS)
    assert [run.pk for run in claim("tenants")] == [busy[1]]


def test_free_slots_are_spread_over_the_partitions():
    durable.register_queue("spread", partition_queue=True)  # no limit at all
    for key in ("a", "b", "c"):
        enqueue_on("spread", key, 4)
    keys = [run.queue_partition_key for run in claim("spread", max_runs=3)]
    assert sorted(keys) == ["a", "b", "c"]


def test_partition_keys_are_checked_at_enqueue():
    durable.register_queue("parts", partition_queue=True)
    durable.register_queue("flat")
    with pytest.raises(durable.InvalidStateError, match="partitioned"):
        DBOS.enqueue_workflow("parts", workflows.three_steps, 1)
    with pytest.raises(durable.InvalidStateError, match="not partitioned"):
        enqueue_on("flat", "k")
    with pytest.raises(ValueError, match="deduplication_id"):
        durable.SetEnqueueOptions(queue_partition_key="k", deduplication_id="d")
    assert WorkflowRun.objects.count() == 0
    (workflow_id,) = enqueue_on("parts", "k")
    status = durable.get_workflow_status(workflow_id)
    assert status is not None and status.queue_partition_key == "k"


def test_a_blocked_partition_does_not_hold_up_another(worker_thread):
    """DBOS's ``test_queue_partitions``: one run per partition at a time."""
    durable.register_queue("blocking", partition_queue=True, worker_concurrency=1)
    blocked = enqueue_on("blocking", "blocked", 1, workflows.waits_for_gate)
    behind = enqueue_on("blocking", "blocked", 1)
    worker_thread(concurrency=4)
    wait_until(lambda: WorkflowRun.objects.get(pk=blocked[0]).status == RunStatus.PENDING)
    (other,) = enqueue_on("blocking", "normal")
    assert durable.retrieve_workflow(other).get_result(timeout=20) == "value=2"
    assert WorkflowRun.objects.get(pk=behind[0]).status == RunStatus.ENQUEUED
    workflows.GATE.set()
    assert durable.retrieve_workflow(behind[0]).get_result(timeout=20) == "value=2"
