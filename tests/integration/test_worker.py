"""The ``Worker`` loop in this process, recovery of dead executors' runs, and database errors
while a workflow runs.

Workers here run in the test thread (the ``worker`` fixture: batch mode, or ``max_runs``)
or on a helper thread when a test has to act while the worker runs (``worker_thread``).
Their executor id comes from the ``worker_id`` fixture.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.utils import timezone

import django_durable as durable
from django_durable import queues, registry, serialization
from django_durable import worker as worker_module
from django_durable.db import NOTIFY_CHANNEL
from django_durable.engine import recovery, runs
from django_durable.models import Executor, RunStatus, StepOutput, WorkflowRun
from django_durable.models import sql as run_sql
from django_durable.worker import Worker
from tests import workflows
from tests.integration.workers import release
from tests.models import Event
from tests.process.children import max_overlap, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = workflows.QUEUE_PLAIN
TIMEOUT = 30.0  # dead-executor timeout used by the recovery tests
WORKER_LOGGER = "django_durable.worker"


def enqueue(queue: queues.Queue, fn: Any, *args: Any, workflow_id: str | None = None) -> str:
    if workflow_id is None:
        return queue.enqueue(fn, *args).workflow_id
    with durable.SetWorkflowID(workflow_id):
        return queue.enqueue(fn, *args).workflow_id


def run_of(workflow_id: str) -> WorkflowRun:
    return WorkflowRun.objects.get(pk=workflow_id)


def result_of(workflow_id: str) -> Any:
    return durable.retrieve_workflow(workflow_id).get_result(timeout=10)


def step_numbers(workflow_id: str) -> list[int]:
    return list(
        StepOutput.objects.filter(run_id=workflow_id)
        .order_by("step_number")
        .values_list("step_number", flat=True)
    )


def intervals(workflow_ids: list[str]) -> list[tuple[float, float]]:
    """``[start, end]`` of finished ``queued_timed`` runs."""
    return [(result_of(wid)[0], result_of(wid)[1]) for wid in workflow_ids]


def started_at(workflow_ids: list[str]) -> list[datetime]:
    """When each run was claimed, in order."""
    starts = [run_of(wid).started_at for wid in workflow_ids]
    assert None not in starts, starts
    return sorted(s for s in starts if s is not None)


# ---------------------------------------------------------------- running


def test_a_batch_worker_runs_what_is_enqueued_and_returns(worker, worker_id):
    ids = [enqueue(PLAIN, workflows.three_steps, i) for i in range(5)]
    other = enqueue(workflows.QUEUE_SERIAL, workflows.three_steps, 9)

    assert worker("queues-plain") == 5

    assert [result_of(wid) for wid in ids] == [f"value={(i + 1) * 2}" for i in range(5)]
    assert {run_of(wid).executor_id for wid in ids} == {worker_id}
    assert all(step_numbers(wid) == [1, 2, 3] for wid in ids)
    assert workflows.CALLS == {"add_one": 5, "double": 5, "to_text": 5}
    assert run_of(other).status == RunStatus.ENQUEUED  # not a queue of this worker
    # A clean stop forgets the executor.
    assert not Executor.objects.filter(pk=worker_id).exists()


def test_a_worker_without_queues_serves_every_declared_queue(worker):
    ids = [enqueue(q, workflows.three_steps, 1) for q in registry.all_queues()]
    assert worker(max_runs=len(ids)) == len(ids)
    assert {run_of(wid).status for wid in ids} == {RunStatus.SUCCESS}


def test_a_batch_worker_runs_async_workflows_too(worker):
    ids = [enqueue(PLAIN, workflows.async_workflow, i) for i in (1, 2)]
    sync_id = enqueue(PLAIN, workflows.three_steps, 1)
    assert worker("queues-plain") == 3
    assert [result_of(wid) for wid in ids] == [[11, 12, 12], [12, 13, 13]]
    assert result_of(sync_id) == "value=4"
    assert workflows.CALLS["async_add"] == 2


def test_a_worker_closes_its_event_loop(worker_id):
    """Async runs execute on an event loop the worker creates: ``run()`` must close it (an
    unclosed loop and its self-pipe sockets raise ResourceWarning when collected)."""
    enqueue(PLAIN, workflows.async_workflow, 1)
    running = Worker(queues=["queues-plain"], executor_id=worker_id, batch=True)
    try:
        assert running.run() == 1
        loop = running.runtime._loop
        assert loop is not None  # the async run used it
        if running.runtime._loop_thread is not None:
            running.runtime._loop_thread.join(10)
        assert loop.is_closed(), "run() returned with its event loop still open"
    finally:
        release(running)


def test_a_worker_leaves_no_listen_thread_behind(worker_id):
    """On PostgreSQL a (non-batch) worker LISTENs on its own connection: once ``run()`` has
    returned, that connection must be closed (a test database cannot be dropped while it
    is open)."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    enqueue(PLAIN, workflows.three_steps, 1)
    running = Worker(queues=["queues-plain"], executor_id=worker_id, max_runs=1)
    try:
        assert running.run() == 1
        listening = [t.name for t in threading.enumerate() if t.name == "durable-listen"]
        assert listening == [], "run() returned with its LISTEN thread still running"
    finally:
        release(running)


def test_an_idle_worker_wakes_at_once_when_a_run_is_enqueued(worker_thread):
    """PostgreSQL: enqueue NOTIFYs the listening workers, so a one-minute poll does not
    delay the run."""
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL only")
    running = worker_thread(queues=["queues-plain"], max_runs=1, poll_interval=60.0)

    def listening() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query = %s AND pid <> pg_backend_pid()",
                [f"LISTEN {NOTIFY_CHANNEL}"],
            )
            return bool(cursor.fetchone()[0])

    wait_until(listening, "the worker's LISTEN")
    started = time.monotonic()
    wid = enqueue(PLAIN, workflows.three_steps, 1)

    assert running.join(timeout=30) == 1
    assert time.monotonic() - started < 10, "the worker waited for its poll interval"
    assert result_of(wid) == "value=4"


def test_a_worker_runs_up_to_its_concurrency_at_once(worker):
    # Long enough for all four to start within the first one's run on a busy machine.
    ids = [enqueue(PLAIN, workflows.queued_timed, 1.0) for _ in range(4)]
    assert worker("queues-plain", concurrency=4) == 4
    assert max_overlap(intervals(ids)) == 4


def test_a_worker_of_concurrency_one_runs_one_at_a_time(worker):
    ids = [enqueue(PLAIN, workflows.queued_timed, 0.05) for _ in range(4)]
    assert worker("queues-plain", concurrency=1, max_runs=4) == 4
    assert max_overlap(intervals(ids)) == 1


@pytest.mark.parametrize("queue_name", ["queues-serial", "queues-per-worker"])
def test_the_queues_limits_apply_on_top_of_the_workers_concurrency(worker, queue_name):
    queue = registry.get_queue(queue_name)
    ids = [enqueue(queue, workflows.queued_timed, 0.05) for _ in range(4)]
    assert worker(queue_name, concurrency=4, max_runs=4) == 4
    assert max_overlap(intervals(ids)) == 1


def test_a_batch_worker_does_not_return_while_its_queue_still_holds_runs(worker_id, monkeypatch):
    """A tick whose claim finds the queue's one slot taken, while that run finishes before
    the tick ends, must not make a batch worker think it is done.

    The claim is slowed down (after it ran) until the running run has finished: that is
    the window a busy database opens on its own, made certain.
    """
    ids = [enqueue(workflows.QUEUE_SERIAL, workflows.three_steps, i) for i in range(3)]
    running = Worker(queues=["queues-serial"], executor_id=worker_id, batch=True)
    real_claim = queues.claim

    def slow_claim(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        taken = real_claim(*args, **kwargs)
        if not taken and running._in_flight:
            wait_until(lambda: not running._in_flight, "the running run to finish")
        return taken

    monkeypatch.setattr(worker_module, "claim", slow_claim)
    try:
        claimed = running.run()
    finally:
        release(running)

    left = list(WorkflowRun.objects.enqueued().values_list("workflow_id", flat=True))
    assert (claimed, left) == (3, []), "the batch worker returned with runs still enqueued"
    assert [run_of(wid).status for wid in ids] == [RunStatus.SUCCESS] * 3


def test_a_batch_worker_waits_for_the_rate_limit_instead_of_leaving_runs_behind(worker):
    """``queues-rate`` lets two runs start per half second: five take three windows."""
    ids = [enqueue(workflows.QUEUE_RATE, workflows.queued_timed, 0.0) for _ in range(5)]

    claimed = worker("queues-rate", concurrency=8)

    left = list(WorkflowRun.objects.enqueued().values_list("workflow_id", flat=True))
    assert (claimed, left) == (5, []), "the batch worker returned with runs still enqueued"
    starts = started_at(ids)
    for first, third in zip(starts, starts[2:], strict=False):
        assert third - first >= timedelta(seconds=0.5), starts


def test_the_rate_limit_holds_for_a_worker_that_keeps_running(worker):
    ids = [enqueue(workflows.QUEUE_RATE, workflows.queued_timed, 0.0) for _ in range(5)]
    assert worker("queues-rate", concurrency=8, max_runs=5) == 5
    starts = started_at(ids)
    for first, third in zip(starts, starts[2:], strict=False):
        assert third - first >= timedelta(seconds=0.5), starts


def test_max_runs_stops_the_worker_once_that_many_runs_have_finished(worker_id):
    ids = [enqueue(PLAIN, workflows.three_steps, i, workflow_id=f"m-{i}") for i in range(3)]
    running = Worker(
        queues=["queues-plain"], executor_id=worker_id, max_runs=2, poll_interval=0.05
    )
    try:
        assert running.run() == 2
    finally:
        release(running)
    assert [run_of(wid).status for wid in ids] == [
        RunStatus.SUCCESS,
        RunStatus.SUCCESS,
        RunStatus.ENQUEUED,
    ]
    assert not running.has_leftovers()


def test_stop_drains_the_running_workflows_and_claims_nothing_more(worker_thread):
    first = enqueue(PLAIN, workflows.waits_for_gate, 1, workflow_id="gate-1")
    second = enqueue(PLAIN, workflows.waits_for_gate, 2, workflow_id="gate-2")
    running = worker_thread(queues=["queues-plain"], concurrency=1)
    wait_until(lambda: step_numbers(first) == [1], "step 1 of the first run")

    running.worker.stop()
    running.thread.join(0.3)
    assert running.thread.is_alive(), "the worker returned before its run finished"
    workflows.GATE.set()

    assert running.join() == 1
    assert result_of(first) == 3
    assert run_of(second).status == RunStatus.ENQUEUED
    assert not running.worker.has_leftovers()


def test_a_run_still_going_at_the_shutdown_timeout_is_left_for_recovery(worker_thread, worker_id):
    wid = enqueue(PLAIN, workflows.waits_for_gate, 1)
    running = worker_thread(queues=["queues-plain"], shutdown_timeout=0.2)
    wait_until(lambda: step_numbers(wid) == [1], "step 1")
    try:
        running.worker.stop()
        assert running.join(timeout=5) == 1

        assert running.worker.has_leftovers()
        assert (run_of(wid).status, run_of(wid).executor_id) == (RunStatus.PENDING, worker_id)
        # Marked dead at once: a live worker recovers the run without waiting for the timeout.
        assert worker_id in recovery.dead_executor_ids(timezone.now(), TIMEOUT)
    finally:
        workflows.GATE.set()  # let the abandoned thread end before the test database goes
        wait_until(lambda: run_of(wid).is_finished, "the abandoned thread to finish")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": -1}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": "2"}, "concurrency"),
        ({"max_runs": 0}, "max_runs"),
        ({"shutdown_timeout": -1}, "shutdown_timeout"),
    ],
)
def test_a_worker_with_bad_settings_is_refused(kwargs, fragment):
    with pytest.raises(durable.ConfigurationError, match=fragment):
        Worker(**kwargs)


def test_a_worker_on_an_undeclared_queue_is_refused():
    with pytest.raises(durable.RegistrationError, match="'queues-nope' is not declared"):
        Worker(queues=["queues-plain", "queues-nope"])


# ---------------------------------------------------------------- recovery


def dead_run(
    workflow_id: str,
    executor_id: str,
    *,
    heartbeat_age: float | None,
    queue: queues.Queue | None = PLAIN,
    run_age: float = 0.0,
    recovery_attempts: int = 0,
) -> WorkflowRun:
    """A ``three_steps(1)`` run left ``PENDING`` by ``executor_id``.

    ``heartbeat_age``: seconds since the executor's last heartbeat (``None``: no
    ``Executor`` row); ``run_age``: seconds since the run last changed.
    """
    now = timezone.now()
    if heartbeat_age is not None:
        Executor.objects.create(
            executor_id=executor_id,
            started_at=now - timedelta(hours=1),
            last_heartbeat_at=now - timedelta(seconds=heartbeat_age),
        )
    return WorkflowRun.objects.create(
        workflow_id=workflow_id,
        name="three_steps",
        status=RunStatus.PENDING,
        inputs=serialization.dumps({"args": [1], "kwargs": {}}),
        executor_id=executor_id,
        queue_name=queue.name if queue else None,
        recovery_attempts=recovery_attempts,
        created_at=now - timedelta(seconds=run_age + 1),
        updated_at=now - timedelta(seconds=run_age),
        started_at=now - timedelta(seconds=run_age),
    )


def test_a_run_of_an_executor_with_a_stale_heartbeat_is_re_enqueued_once():
    dead_run("rec-1", "dead-1", heartbeat_age=TIMEOUT + 5)

    assert recovery.recover_dead(timezone.now(), TIMEOUT) == ["rec-1"]
    assert recovery.recover_dead(timezone.now(), TIMEOUT) == []

    run = run_of("rec-1")
    assert (run.status, run.executor_id, run.queue_name, run.recovery_attempts) == (
        RunStatus.ENQUEUED,
        None,
        "queues-plain",
        1,
    )


def test_recovery_from_two_threads_at_once_re_enqueues_once():
    for i in range(5):
        dead_run(f"race-{i}", f"dead-{i}", heartbeat_age=TIMEOUT + 5)
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def recover() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(recovery.recover_dead(timezone.now(), TIMEOUT))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recover) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not errors, errors
    assert sorted(results[0] + results[1]) == [f"race-{i}" for i in range(5)]
    assert set(WorkflowRun.objects.values_list("recovery_attempts", flat=True)) == {1}
    assert set(WorkflowRun.objects.values_list("status", flat=True)) == {RunStatus.ENQUEUED}


def test_an_executor_without_a_heartbeat_row_is_dead_once_its_runs_are_stale():
    dead_run("silent-old", "silent-1", heartbeat_age=None, run_age=TIMEOUT + 5)
    dead_run("silent-new", "silent-2", heartbeat_age=None, run_age=1)

    assert recovery.recover_dead(timezone.now(), TIMEOUT) == ["silent-old"]
    assert run_of("silent-new").status == RunStatus.PENDING


def test_a_live_executors_runs_are_left_alone():
    dead_run("alive-1", "alive", heartbeat_age=1, run_age=TIMEOUT * 10)
    assert recovery.recover_dead(timezone.now(), TIMEOUT) == []
    assert (run_of("alive-1").status, run_of("alive-1").recovery_attempts) == (
        RunStatus.PENDING,
        0,
    )


def test_a_recovered_run_keeps_its_completed_steps(worker, worker_id):
    # What a crash after step 2 leaves: the run PENDING on its dead executor, steps 1 and 2.
    with durable.SetWorkflowID("done-before"):
        workflows.three_steps(1)
    dead_run("crashed", "dead-steps", heartbeat_age=TIMEOUT + 5)
    StepOutput.objects.bulk_create(
        StepOutput(
            run_id="crashed",
            step_number=step.step_number,
            step_name=step.step_name,
            output=step.output,
        )
        for step in StepOutput.objects.filter(run_id="done-before", step_number__lte=2)
    )
    workflows.CALLS.clear()

    assert worker("queues-plain") == 1

    run = run_of("crashed")
    assert (run.status, run.executor_id, run.recovery_attempts) == (
        RunStatus.SUCCESS,
        worker_id,
        1,
    )
    assert serialization.loads(run.output) == "value=4"
    assert workflows.CALLS == {"to_text": 1}  # steps 1 and 2 were replayed
    assert step_numbers("crashed") == [1, 2, 3]


def test_a_recovered_direct_call_goes_to_the_internal_queue(worker, worker_id):
    dead_run("direct-1", "dead-direct", heartbeat_age=TIMEOUT + 5, queue=None)
    assert recovery.recover_dead(timezone.now(), TIMEOUT) == ["direct-1"]
    assert run_of("direct-1").queue_name == queues.INTERNAL_QUEUE_NAME

    assert worker() == 1  # every declared queue, the internal one included
    assert result_of("direct-1") == "value=4"


def test_a_run_at_its_recovery_limit_is_given_up():
    limit = registry.get_workflow("three_steps").max_recovery_attempts
    dead_run("last-chance", "dead-a", heartbeat_age=TIMEOUT + 5, recovery_attempts=limit - 1)
    dead_run("too-many", "dead-b", heartbeat_age=TIMEOUT + 5, recovery_attempts=limit)

    assert recovery.recover_dead(timezone.now(), TIMEOUT) == ["last-chance"]

    last = run_of("last-chance")
    assert (last.status, last.recovery_attempts) == (RunStatus.ENQUEUED, limit)
    given_up = run_of("too-many")
    assert (given_up.status, given_up.recovery_attempts) == (
        RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
        limit,
    )
    assert given_up.completed_at is not None
    with pytest.raises(durable.MaxRecoveryAttemptsExceeded, match="too-many"):
        result_of("too-many")


def test_a_worker_recovers_the_runs_of_dead_executors_and_runs_them(worker, worker_id):
    dead_run("orphan", "dead-w", heartbeat_age=TIMEOUT + 5)
    assert worker("queues-plain") == 1  # DEAD_EXECUTOR_TIMEOUT: the default 30 s
    run = run_of("orphan")
    assert (run.status, run.executor_id, run.recovery_attempts) == (
        RunStatus.SUCCESS,
        worker_id,
        1,
    )


def test_executors_long_dead_and_idle_are_forgotten():
    now = timezone.now()
    Executor.objects.create(executor_id="ancient", last_heartbeat_at=now - timedelta(days=1))
    Executor.objects.create(executor_id="recent", last_heartbeat_at=now - timedelta(seconds=1))
    recovery.recover_dead(now, TIMEOUT)
    left = Executor.objects.filter(pk__in=["ancient", "recent"]).values_list("pk", flat=True)
    assert list(left) == ["recent"]


# ---------------------------------------------------------------- database errors


def fail_once(monkeypatch, target: Any, name: str, when: Any = None) -> dict[str, int]:
    """Make ``target.name`` raise ``OperationalError`` on its first call (for which
    ``when(*args, **kwargs)`` holds). Returns a counter of the failures raised."""
    original = getattr(target, name)
    raised = {"count": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if not raised["count"] and (when is None or when(*args, **kwargs)):
            raised["count"] += 1
            raise OperationalError("server closed the connection unexpectedly (simulated)")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return raised


def at_step(number: int) -> Any:
    """When the checkpoints written (``insert_steps``' fourth argument) include ``number``."""
    return lambda *args, **kwargs: any(cp.step_number == number for cp in args[3])


def test_a_lost_database_while_a_direct_call_runs_interrupts_it_and_records_no_error(
    monkeypatch,
):
    raised = fail_once(monkeypatch, run_sql, "insert_steps", at_step(2))

    with durable.SetWorkflowID("cut-1"), pytest.raises(durable.ExecutionInterrupted):
        workflows.three_steps(1)

    assert raised["count"] == 1
    run = run_of("cut-1")
    assert (run.status, run.error, run.completed_at) == (RunStatus.PENDING, None, None)
    assert step_numbers("cut-1") == [1]
    assert workflows.CALLS == {"add_one": 1, "double": 1}


def test_a_worker_retries_a_run_whose_step_could_not_be_recorded(
    worker, worker_id, monkeypatch, caplog
):
    wid = enqueue(PLAIN, workflows.three_steps, 1)
    raised = fail_once(monkeypatch, run_sql, "insert_steps", at_step(2))

    with caplog.at_level(logging.WARNING, logger=WORKER_LOGGER):
        assert worker("queues-plain") == 1

    assert raised["count"] == 1
    run = run_of(wid)
    assert (run.status, run.error, run.recovery_attempts) == (RunStatus.SUCCESS, None, 0)
    assert serialization.loads(run.output) == "value=4"
    # Step 2's body ran before its checkpoint failed, and once more on the retry.
    assert workflows.CALLS == {"add_one": 1, "double": 2, "to_text": 1}
    assert step_numbers(wid) == [1, 2, 3]
    assert any("interrupted" in r.getMessage() and wid in r.getMessage() for r in caplog.records)


def test_a_worker_retries_an_async_run_whose_step_could_not_be_recorded(
    worker, worker_id, monkeypatch
):
    wid = enqueue(PLAIN, workflows.async_workflow, 1)
    raised = fail_once(monkeypatch, run_sql, "insert_steps", at_step(1))

    assert worker("queues-plain") == 1

    assert raised["count"] == 1
    assert result_of(wid) == [11, 12, 12]
    assert workflows.CALLS == {"async_add": 2, "add_one": 1, "write_event": 1}


def test_a_worker_retries_a_run_whose_outcome_could_not_be_recorded(
    worker, worker_id, monkeypatch
):
    wid = enqueue(PLAIN, workflows.three_steps, 1)
    raised = fail_once(monkeypatch, run_sql, "finish_run")

    worker("queues-plain")

    assert raised["count"] == 1
    run = run_of(wid)
    assert (run.status, run.error) == (RunStatus.SUCCESS, None), (
        f"the run is {run.status} after its final write failed once"
    )
    assert workflows.CALLS == {"add_one": 1, "double": 1, "to_text": 1}


def test_a_worker_retries_a_run_it_could_not_load(worker, worker_id, monkeypatch):
    """The database is still down when the worker starts (or retries) a run that has
    recorded steps to load (a fresh run has none: its claim says so)."""
    wid = enqueue(PLAIN, workflows.three_steps, 1)
    # One step recorded already (as for a resumed or recovered run).
    StepOutput.objects.create(run_id=wid, step_number=1, step_name="add_one", output="2")
    in_worker = lambda *args, **kwargs: threading.current_thread().name.startswith(  # noqa: E731
        "durable-worker"
    )
    raised = fail_once(monkeypatch, runs, "load_steps", in_worker)

    worker("queues-plain")

    assert raised["count"] == 1
    run = run_of(wid)
    assert (run.status, run.error) == (RunStatus.SUCCESS, None), (
        f"the run is {run.status} after loading it failed once"
    )
    assert workflows.CALLS == {"double": 1, "to_text": 1}  # step 1 was replayed


def test_a_worker_retries_a_run_whose_transaction_lost_the_database(worker, monkeypatch):
    """The server goes away in the middle of a ``@transaction`` step's body (a PostgreSQL
    restart does this): the body rolls back, and the run is retried, not failed."""
    wid = enqueue(PLAIN, workflows.transaction_workflow, "lost-tx")
    raised = fail_once(monkeypatch, Event.objects, "create")

    worker("queues-plain")

    assert raised["count"] == 1
    run = run_of(wid)
    assert (run.status, run.error) == (RunStatus.SUCCESS, None), (
        f"the run is {run.status} after its transaction lost the database once"
    )
    assert serialization.loads(run.output) == 3
    # Each body wrote its Event once: the interrupted attempt was rolled back.
    assert list(Event.objects.filter(label="lost-tx").values_list("value", flat=True)) == [1, 2]
    assert workflows.CALLS["write_event"] == 3


def test_heartbeat_marks_this_executor_alive(worker_id):
    """What ``recover_dead`` relies on: the heartbeat row of a live executor is fresh."""
    from django_durable.engine.heartbeat import heartbeat

    then = datetime(2020, 1, 1, tzinfo=UTC)
    heartbeat(worker_id, then)
    assert Executor.objects.get(pk=worker_id).last_heartbeat_at == then
    heartbeat(worker_id, then + timedelta(seconds=5))
    assert Executor.objects.get(pk=worker_id).last_heartbeat_at == then + timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
def test_a_worker_restarted_under_the_same_executor_id_re_enqueues_what_it_left():
    # The earlier process died in the middle of a run; its successor keeps the id, so
    # the heartbeat stays fresh and no other worker would ever see the run as orphaned.
    dead_run("left-behind", "fixed-id", heartbeat_age=0.0)
    worker = Worker(queues=["queues-plain"], executor_id="fixed-id", max_runs=1, listen=False)
    assert worker.run() == 1
    run = run_of("left-behind")
    assert (run.status, run.executor_id, run.recovery_attempts) == (
        RunStatus.SUCCESS,
        "fixed-id",
        1,
    )


@pytest.mark.django_db(transaction=True)
def test_a_batch_worker_leaves_the_pending_runs_of_its_own_id_alone():
    dead_run("still-mine", "batch-id", heartbeat_age=0.0)
    assert Worker(queues=["queues-plain"], executor_id="batch-id", batch=True).run() == 0
    assert run_of("still-mine").status == RunStatus.PENDING
