"""Queues on a real database: declaring them, enqueueing runs, claiming runs for a worker.

The queues and workflows are declared in ``tests/workflows.py`` (section "Queues"):
``queues-plain`` (no limits), ``queues-serial`` (concurrency 1), ``queues-limited``
(concurrency 2, at most 3 starts per 60 s) and ``queues-per-worker`` (concurrency 4,
worker_concurrency 1). Claims are called with explicit executor ids and times, so no
worker runs here unless a test starts one.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry, serialization
from django_durable.engine import runtime
from django_durable.models import RunStatus, StepOutput, WorkflowRun
from django_durable.models import sql as run_sql
from django_durable.worker import Worker
from tests import workflows
from tests.models import Event

# Claims and workers use their own transactions and threads: commits must be real.
pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = workflows.QUEUE_PLAIN
SERIAL = workflows.QUEUE_SERIAL
LIMITED = workflows.QUEUE_LIMITED
PER_WORKER = workflows.QUEUE_PER_WORKER


def names() -> list[str]:
    return registry.workflow_names()


def claim(queue: queues.Queue, executor: str, max_runs: int = 10, now: Any = None) -> list[str]:
    """Claim for ``executor``; the ids taken."""
    taken = queues.claim(queue, executor, max_runs, now or timezone.now(), names())
    return [run.pk for run in taken]


def enqueue_n(queue: queues.Queue, count: int, prefix: str = "r") -> list[str]:
    ids = [f"{prefix}-{i:02d}" for i in range(count)]
    for workflow_id in ids:
        with durable.SetWorkflowID(workflow_id):
            queue.enqueue(workflows.three_steps, 1)
    return ids


def finish(*workflow_ids: str) -> None:
    """Mark claimed runs as finished (as their worker would)."""
    for run in WorkflowRun.objects.filter(pk__in=workflow_ids):
        assert run_sql.finish_run(
            "default",
            run.pk,
            str(run.executor_id),
            status=RunStatus.SUCCESS,
            output=serialization.dumps(None),
            error=None,
            now=timezone.now(),
        )


def status(workflow_id: str) -> str:
    return str(WorkflowRun.objects.get(pk=workflow_id).status)


# ---------------------------------------------------------------- declaring


def test_a_declared_queue_keeps_its_limits_and_is_registered_by_name():
    assert registry.get_queue("queues-limited") is LIMITED
    assert (LIMITED.name, LIMITED.concurrency, LIMITED.worker_concurrency) == (
        "queues-limited",
        2,
        None,
    )
    assert LIMITED.limiter == queues.Limiter(limit=3, period=60.0)
    assert (PER_WORKER.concurrency, PER_WORKER.worker_concurrency) == (4, 1)
    assert (PLAIN.concurrency, PLAIN.worker_concurrency, PLAIN.limiter) == (None, None, None)
    assert "queues-plain" in [q.name for q in registry.all_queues()]


def test_declaring_a_queue_name_again_in_another_module_is_an_error(clean_registry):
    with pytest.raises(durable.RegistrationError) as caught:
        durable.Queue("queues-plain")
    message = str(caught.value)
    assert "'queues-plain'" in message
    assert "tests.workflows" in message and __name__ in message
    assert registry.get_queue("queues-plain") is PLAIN


def test_a_module_declaring_its_queue_again_replaces_it(clean_registry):
    """A re-import of the module that declared a queue is not a clash."""
    namespace: dict[str, Any] = {"__name__": "tests.workflows"}
    source = "import django_durable\nq = django_durable.Queue('queues-plain', concurrency=3)"
    exec(source, namespace)  # noqa: S102
    assert registry.get_queue("queues-plain") is namespace["q"]
    assert registry.get_queue("queues-plain").concurrency == 3


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"concurrency": 1, "worker_concurrency": 2}, "worker_concurrency (2)"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": -1}, "-1"),
        ({"concurrency": 1.5}, "1.5"),
        ({"concurrency": True}, "True"),
        ({"worker_concurrency": 0}, "worker_concurrency"),
        ({"limiter": {"limit": 2}}, "'period'"),
        ({"limiter": {"limit": 2, "period": 1, "burst": 3}}, "burst"),
        ({"limiter": [2, 1]}, "[2, 1]"),
        ({"limiter": {"limit": 0, "period": 1}}, "limit"),
        ({"limiter": {"limit": "2", "period": 1}}, "'2'"),
        ({"limiter": {"limit": True, "period": 1}}, "True"),
        ({"limiter": {"limit": 2, "period": 0}}, "period"),
        ({"limiter": {"limit": 2, "period": -1.5}}, "-1.5"),
        ({"limiter": {"limit": 2, "period": "1"}}, "'1'"),
    ],
)
def test_a_bad_declaration_is_a_clear_error_and_registers_nothing(
    clean_registry, kwargs, fragment
):
    with pytest.raises(durable.ConfigurationError) as caught:
        durable.Queue("queues-bad", **kwargs)
    assert "'queues-bad'" in str(caught.value)
    assert fragment in str(caught.value)
    assert isinstance(caught.value, durable.DurableError)
    with pytest.raises(durable.RegistrationError, match="queues-bad"):
        registry.get_queue("queues-bad")


@pytest.mark.parametrize("name", ["", "   ", None])
def test_a_queue_needs_a_name(clean_registry, name):
    with pytest.raises(durable.ConfigurationError, match="queue name"):
        durable.Queue(name)


# ---------------------------------------------------------------- enqueueing


def test_enqueue_writes_an_enqueued_run_and_returns_its_handle():
    handle = PLAIN.enqueue(workflows.kwargs_workflow, 1, b=3)

    assert isinstance(handle, durable.WorkflowHandle)
    run = WorkflowRun.objects.get(pk=handle.get_workflow_id())
    assert (run.name, run.status, run.queue_name) == (
        "kwargs_workflow",
        RunStatus.ENQUEUED,
        "queues-plain",
    )
    assert serialization.loads(run.inputs) == {"args": [1], "kwargs": {"b": 3}}
    # The enqueuing process's executor id is recorded, as DBOS does.
    assert (run.priority, run.deduplication_id, run.executor_id, run.started_at) == (
        0,
        None,
        runtime.current().executor_id,
        None,
    )
    assert handle.get_status().status == RunStatus.ENQUEUED
    with pytest.raises(durable.WorkflowTimeout):
        handle.get_result(timeout=0.05)  # nobody runs it here
    assert not StepOutput.objects.exists()


def test_enqueue_under_set_workflow_id_is_idempotent():
    with durable.SetWorkflowID("q-same"):
        first = PLAIN.enqueue(workflows.three_steps, 1)
    with durable.SetWorkflowID("q-same"):
        second = PLAIN.enqueue(workflows.three_steps, 1)
    assert first == second == durable.WorkflowHandle("q-same")
    assert WorkflowRun.objects.count() == 1

    with (
        durable.SetWorkflowID("q-same"),
        pytest.raises(durable.WorkflowConflict, match=r"'q-same'.*'three_steps'"),
    ):
        PLAIN.enqueue(workflows.sleeper, 0)
    assert WorkflowRun.objects.get(pk="q-same").name == "three_steps"


def test_enqueueing_something_that_cannot_run_writes_nothing():
    with pytest.raises(durable.RegistrationError, match="not a workflow"):
        PLAIN.enqueue(workflows.add_one, 1)
    with pytest.raises(durable.SerializationError, match="object"):
        PLAIN.enqueue(workflows.three_steps, object())
    assert not WorkflowRun.objects.exists()


def test_enqueue_in_a_transaction_that_rolls_back_leaves_no_run():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        handle = PLAIN.enqueue(workflows.three_steps, 1)
        assert WorkflowRun.objects.filter(pk=handle.workflow_id).exists()
        raise Rollback

    assert not WorkflowRun.objects.exists()
    assert claim(PLAIN, "e1") == []


def test_enqueue_in_a_transaction_that_commits_is_claimable():
    with transaction.atomic():
        handle = PLAIN.enqueue(workflows.three_steps, 1)
    assert claim(PLAIN, "e1") == [handle.workflow_id]


def test_lower_priority_numbers_are_claimed_first_and_fifo_within_a_priority():
    # Ids in reverse alphabetical order: only the enqueue order can give FIFO.
    order = [("q-9", 5), ("q-8", 1), ("q-7", None), ("q-6", 1), ("q-5", 0), ("q-4", 5)]
    for workflow_id, priority in order:
        with durable.SetWorkflowID(workflow_id):
            if priority is None:
                PLAIN.enqueue(workflows.three_steps, 1)
            else:
                with durable.SetEnqueueOptions(priority=priority):
                    PLAIN.enqueue(workflows.three_steps, 1)

    assert dict(WorkflowRun.objects.values_list("workflow_id", "priority")) == {
        wid: p or 0 for wid, p in order
    }
    taken = [claim(PLAIN, "e1", max_runs=1) for _ in order]
    assert taken == [["q-7"], ["q-5"], ["q-8"], ["q-6"], ["q-9"], ["q-4"]]
    assert claim(PLAIN, "e1") == []


def test_enqueue_options_apply_inside_their_block_only():
    with durable.SetEnqueueOptions(priority=3, deduplication_id="dedup-block"):
        inside = PLAIN.enqueue(workflows.three_steps, 1)
    outside = PLAIN.enqueue(workflows.three_steps, 1)
    assert inside.get_status().priority == 3
    assert inside.get_status().deduplication_id == "dedup-block"
    assert (outside.get_status().priority, outside.get_status().deduplication_id) == (0, None)


@pytest.mark.parametrize(
    "options", [{"priority": "1"}, {"priority": True}, {"deduplication_id": ""}]
)
def test_bad_enqueue_options_are_rejected(options):
    with pytest.raises(ValueError, match=r"priority|deduplication_id"):
        durable.SetEnqueueOptions(**options)


def test_a_second_active_run_with_the_same_deduplication_id_is_refused():
    with durable.SetEnqueueOptions(deduplication_id="order-7"):
        first = PLAIN.enqueue(workflows.three_steps, 1)
    with (
        durable.SetEnqueueOptions(deduplication_id="order-7"),
        pytest.raises(durable.QueueDeduplicatedError) as caught,
    ):
        PLAIN.enqueue(workflows.three_steps, 2)
    assert "'queues-plain'" in str(caught.value) and "'order-7'" in str(caught.value)
    assert isinstance(caught.value, durable.DurableError)
    assert list(WorkflowRun.objects.values_list("workflow_id", flat=True)) == [first.workflow_id]

    # Still active once claimed (PENDING).
    assert claim(PLAIN, "e1") == [first.workflow_id]
    with (
        durable.SetEnqueueOptions(deduplication_id="order-7"),
        pytest.raises(durable.QueueDeduplicatedError),
    ):
        PLAIN.enqueue(workflows.three_steps, 3)

    # The same id on another queue, or another id on this queue, is fine.
    with durable.SetEnqueueOptions(deduplication_id="order-7"):
        SERIAL.enqueue(workflows.three_steps, 4)
    with durable.SetEnqueueOptions(deduplication_id="order-8"):
        PLAIN.enqueue(workflows.three_steps, 5)
    assert WorkflowRun.objects.count() == 3


def test_the_deduplication_id_is_free_again_once_the_run_ends(worker_id):
    with durable.SetEnqueueOptions(deduplication_id="nightly"):
        first = PLAIN.enqueue(workflows.three_steps, 1)
    assert Worker(queues=["queues-plain"], executor_id=worker_id, batch=True).run() == 1
    assert first.get_result(timeout=5) == "value=4"

    with durable.SetEnqueueOptions(deduplication_id="nightly"):
        second = PLAIN.enqueue(workflows.three_steps, 2)
    assert durable.cancel_workflow(second.workflow_id)
    with durable.SetEnqueueOptions(deduplication_id="nightly"):
        third = PLAIN.enqueue(workflows.three_steps, 3)

    assert [first.get_status().status, second.get_status().status] == [
        RunStatus.SUCCESS,
        RunStatus.CANCELLED,
    ]
    assert third.get_status().status == RunStatus.ENQUEUED


def test_a_refused_duplicate_does_not_break_the_callers_transaction():
    with transaction.atomic():
        with durable.SetEnqueueOptions(deduplication_id="in-tx"):
            kept = PLAIN.enqueue(workflows.three_steps, 1)
            with pytest.raises(durable.QueueDeduplicatedError):
                PLAIN.enqueue(workflows.three_steps, 2)
        Event.objects.create(label="after-refusal")
    assert list(WorkflowRun.objects.values_list("workflow_id", flat=True)) == [kept.workflow_id]
    assert Event.objects.filter(label="after-refusal").count() == 1


def test_enqueue_inside_a_workflow_is_a_child_recorded_as_a_step(worker_id):
    with durable.SetWorkflowID("q-parent"):
        assert workflows.queued_enqueues_child(5) == "q-parent-1"

    child = WorkflowRun.objects.get(pk="q-parent-1")
    assert (child.name, child.status, child.queue_name, child.parent_id) == (
        "child",
        RunStatus.ENQUEUED,
        "queues-plain",
        "q-parent",
    )
    steps = StepOutput.objects.filter(run_id="q-parent").order_by("step_number")
    assert [(s.step_number, s.step_name, s.child_workflow_id) for s in steps] == [
        (1, "child", "q-parent-1"),
        (2, "add_one", None),
    ]

    # Replaying the enqueue (a fork that keeps step 1) enqueues nothing new.
    with durable.SetWorkflowID("q-fork"):
        fork = durable.fork_workflow("q-parent", 2)
    # The fork is on the internal queue, which every worker serves, even one given no
    # queues; the child is on its own queue.
    assert Worker(queues=[], executor_id=worker_id, batch=True).run() == 1
    assert fork.get_result(timeout=10) == "q-parent-1"
    assert WorkflowRun.objects.filter(name="child").count() == 1
    assert workflows.CALLS["add_one"] == 2  # step 2 of each parent; the child has not run

    assert Worker(queues=["queues-plain"], executor_id=worker_id, batch=True).run() == 1
    assert durable.retrieve_workflow("q-parent-1").get_result(timeout=5) == 6


# ---------------------------------------------------------------- claiming


def test_a_claim_moves_runs_to_pending_on_the_executor_and_returns_their_rows():
    ids = enqueue_n(PLAIN, 3)
    now = timezone.now()
    taken = queues.claim(PLAIN, "e1", 2, now, names())

    assert [(run.pk, run.name) for run in taken] == [
        (ids[0], "three_steps"),
        (ids[1], "three_steps"),
    ]
    # The rows come back as claimed: the worker executes them without reading them again.
    assert [(run.status, run.executor_id, run.started_at) for run in taken] == [
        (RunStatus.PENDING, "e1", now)
    ] * 2
    for workflow_id in ids[:2]:
        run = WorkflowRun.objects.get(pk=workflow_id)
        assert (run.status, run.executor_id, run.started_at) == (RunStatus.PENDING, "e1", now)
    assert status(ids[2]) == RunStatus.ENQUEUED
    assert queues.claim(PLAIN, "e1", 0, now, names()) == []
    assert claim(PLAIN, "e2") == [ids[2]]
    assert claim(PLAIN, "e2") == []


def test_a_claim_takes_only_runs_of_its_queue():
    mine = enqueue_n(PLAIN, 1, "plain")
    enqueue_n(SERIAL, 2, "serial")
    assert claim(PLAIN, "e1") == mine
    assert WorkflowRun.objects.filter(queue_name="queues-serial").enqueued().count() == 2


def test_a_claim_takes_only_runs_of_workflows_registered_in_this_process():
    WorkflowRun.objects.create(
        workflow_id="q-gone",
        name="queued_removed_workflow",
        status=RunStatus.ENQUEUED,
        inputs=serialization.dumps({"args": [], "kwargs": {}}),
        queue_name="queues-plain",
        created_at=timezone.now() - timedelta(minutes=1),  # first in line
    )
    ids = enqueue_n(PLAIN, 1)

    assert claim(PLAIN, "e1") == ids
    assert status("q-gone") == RunStatus.ENQUEUED
    assert queues.claim(PLAIN, "e1", 5, timezone.now(), []) == []


def test_global_concurrency_counts_the_pending_runs_of_every_executor():
    ids = enqueue_n(SERIAL, 3)
    assert claim(SERIAL, "e1") == ids[:1]
    assert claim(SERIAL, "e2") == []
    assert claim(SERIAL, "e1") == []
    finish(ids[0])
    assert claim(SERIAL, "e2") == ids[1:2]
    assert claim(SERIAL, "e1") == []


def test_worker_concurrency_counts_the_pending_runs_of_one_executor():
    enqueue_n(PER_WORKER, 6)
    assert len(claim(PER_WORKER, "e1")) == 1
    assert claim(PER_WORKER, "e1") == []
    assert [len(claim(PER_WORKER, f"e{i}")) for i in (2, 3, 4)] == [1, 1, 1]
    assert claim(PER_WORKER, "e5") == []  # the global limit (4) is reached
    (e1_run,) = WorkflowRun.objects.filter(executor_id="e1").values_list("pk", flat=True)
    finish(e1_run)
    assert len(claim(PER_WORKER, "e1")) == 1


def test_the_limiter_is_a_rolling_window_over_the_starts():
    ids = enqueue_n(LIMITED, 6)
    t0 = timezone.now()

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    assert claim(LIMITED, "e1", now=at(0)) == ids[0:2]  # concurrency 2 caps it
    finish(*ids[0:2])
    assert claim(LIMITED, "e2", now=at(1)) == ids[2:3]  # 3 starts per 60 s
    finish(ids[2])
    assert claim(LIMITED, "e1", now=at(59)) == []
    # A fixed window would start over at 60 s; a rolling one still counts the start at 1 s.
    assert claim(LIMITED, "e1", now=at(60.5)) == ids[3:5]
    finish(*ids[3:5])
    assert claim(LIMITED, "e1", now=at(60.9)) == []  # starts at 1, 60.5 and 60.5
    assert claim(LIMITED, "e1", now=at(61.5)) == ids[5:6]  # the start at 1 left the window


def claim_race(queue: queues.Queue, claimers: int, max_runs: int) -> list[list[str]]:
    """``claimers`` threads claim at the same moment, each as its own executor."""
    barrier = threading.Barrier(claimers)
    results: list[list[str]] = [[] for _ in range(claimers)]
    errors: list[BaseException] = []

    def claimer(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = claim(queue, f"racer-{i}", max_runs)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    for i, taken in enumerate(results):
        owners = WorkflowRun.objects.filter(pk__in=taken).values_list("executor_id", flat=True)
        assert set(owners) <= {f"racer-{i}"}
    return results


def test_racing_claimers_never_take_a_run_twice():
    ids = enqueue_n(PLAIN, 20)
    results = claim_race(PLAIN, 8, 3)
    taken = [wid for result in results for wid in result]
    assert sorted(taken) == ids  # 24 asked for, 20 there: each taken exactly once
    assert WorkflowRun.objects.pending().count() == 20


@pytest.mark.parametrize(("queue", "limit"), [(SERIAL, 1), (PER_WORKER, 4)])
def test_racing_claimers_respect_the_global_concurrency(queue, limit):
    enqueue_n(queue, 12)
    for round_ in range(3):
        results = claim_race(queue, 6, 5)
        taken = [wid for result in results for wid in result]
        assert len(taken) == limit, (round_, results)
        assert WorkflowRun.objects.pending().count() == limit
        finish(*taken)


def claim_plan(queue: queues.Queue) -> str:
    """PostgreSQL's plan (sequential scans off) of the SELECT a claim of ``queue`` sends."""
    enqueue_n(queue, 3)
    with CaptureQueriesContext(connection) as captured:
        claim(queue, "e1")
    [select] = [q["sql"] for q in captured.captured_queries if "SKIP LOCKED" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute(f"EXPLAIN {select}")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("SET enable_seqscan = on")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL query plans")
def test_the_claim_reads_the_partial_queue_index():
    plan = claim_plan(PLAIN)
    assert "durable_run_inflight_queue" in plan, plan
    # In the index's order: no sort of the whole backlog.
    assert "Sort" not in plan, plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite query plans")
@pytest.mark.parametrize("taken", [1, 2, 8])
def test_on_sqlite_the_claims_update_finds_the_taken_runs_by_primary_key(taken):
    enqueue_n(PLAIN, 10)
    with CaptureQueriesContext(connection) as captured:
        claim(PLAIN, "e1", max_runs=taken)
    [update] = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {update}")
        plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
    # Not the status index, which would read every enqueued run of every queue.
    assert "durable_run_status" not in plan, plan
    assert "workflow_id=?" in plan, plan


# Statements per claim, counted by django_assert_num_queries (BEGIN and COMMIT included).
# On PostgreSQL a queue without global limits is claimed with one statement in autocommit
# (WITH picked AS (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ... RETURNING); a queue with a
# global limit takes a transaction-level advisory lock first. SQLite claims in an IMMEDIATE
# transaction (its BEGIN IMMEDIATE does the locking).
CLAIM_QUERIES = {
    # (queue, something to take): {vendor: statements}
    # SQLite: BEGIN, SELECT, UPDATE, COMMIT; PostgreSQL: the one claim statement
    ("queues-plain", True): {"sqlite": 4, "postgresql": 1},
    # SQLite: BEGIN, SELECT, COMMIT; PostgreSQL: the one claim statement
    ("queues-plain", False): {"sqlite": 3, "postgresql": 1},
    # BEGIN, [advisory lock], COUNT pending, COUNT started in window, claim, [UPDATE], COMMIT
    ("queues-limited", True): {"sqlite": 6, "postgresql": 6},
    # BEGIN, [advisory lock], COUNT pending (the limit is reached), COMMIT
    ("queues-limited", False): {"sqlite": 3, "postgresql": 4},
}


@pytest.mark.parametrize(("queue_name", "available"), list(CLAIM_QUERIES))
def test_a_claim_is_one_short_transaction_with_a_fixed_number_of_statements(
    django_assert_num_queries, queue_name, available
):
    queue = registry.get_queue(queue_name)
    ids = enqueue_n(queue, 4)
    if not available:
        claim(queue, "e0")  # takes all the queue allows (2 for queues-limited, 4 for plain)
        if queue.concurrency is None:
            WorkflowRun.objects.enqueued().delete()
    expected = CLAIM_QUERIES[(queue_name, available)][connection.vendor]

    with django_assert_num_queries(expected) as captured:
        taken = claim(queue, "e1")

    assert bool(taken) is available
    if available:
        assert taken == ids[: queue.concurrency or 4]
    sql = [q["sql"] for q in captured.captured_queries]
    if expected == 1:
        assert sql[0].startswith("WITH picked AS") and "SKIP LOCKED" in sql[0], sql
    else:
        assert sql[0].startswith("BEGIN") and sql[-1] == "COMMIT", sql
    locks = [s for s in sql if "pg_advisory_xact_lock" in s]
    assert len(locks) == (queue.serialised and connection.vendor == "postgresql"), sql
    if connection.vendor == "postgresql" and available:
        assert any("FOR UPDATE SKIP LOCKED" in s for s in sql), sql
    if connection.vendor == "sqlite":
        assert sql[0] == "BEGIN IMMEDIATE", sql
