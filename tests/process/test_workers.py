"""Queue workers as real processes: ``python manage.py runscheduler --settings tests.settings``
children on the test database (``spawn_worker``), with short timings passed through the
``DURABLE_TEST_*`` environment variables that ``tests/settings.py`` reads.

``crash_workflow``, ``queued_mark`` and ``write_event`` write ``Event`` rows, so the tests
count how often each step body ran across all processes.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

import django_durable as durable
from django_durable import serialization
from django_durable.engine import recovery
from django_durable.models import Executor, RunStatus, StepOutput, WorkflowRun
from tests import workflows
from tests.models import Event
from tests.process.children import Child, max_overlap, wait_until

# Children read what this process writes: commits must be real.
pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

FAST = {"DURABLE_TEST_POLL_INTERVAL": "0.05", "DURABLE_TEST_HEARTBEAT_INTERVAL": "0.2"}
"""Workers that poll and heartbeat often (the defaults are 1 s and 5 s)."""

# Every worker below runs with --no-scheduler: the test settings' code-defined schedule
# fires every 5 minutes, and a scheduled run taking a worker's slot or --max-runs budget
# would make these tests depend on the wall clock.

DEAD_AFTER = 2.0
"""The dead-executor timeout of the rescuing worker, in seconds."""


def enqueue(queue: durable.Queue, workflow_id: str, fn, *args) -> str:
    with durable.SetWorkflowID(workflow_id):
        return queue.enqueue(fn, *args).workflow_id


def statuses(workflow_ids: list[str]) -> dict[str, str]:
    return dict(WorkflowRun.objects.filter(pk__in=workflow_ids).values_list("pk", "status"))


def events(label: str) -> list[int]:
    return list(Event.objects.filter(label=label).order_by("pk").values_list("value", flat=True))


def started(child: Child) -> str:
    """Wait for the worker's start-up line (printed once it is set up)."""
    return child.expect_line(f"django_durable worker {child.executor_id}: queues")


def test_global_concurrency_holds_across_worker_processes(spawn_worker, executor_id):
    workers = [
        spawn_worker(
            *"--queues queues-serial --max-runs 5 --concurrency 4 --no-scheduler".split(),
            executor_id=executor_id(f"serial{i}"),
            env=FAST,
        )
        for i in (1, 2)
    ]
    for child in workers:
        started(child)
    # Both poll the queue already: every run is raced for.
    ids = [
        enqueue(workflows.QUEUE_SERIAL, f"serial-{i}", workflows.queued_timed, 0.05)
        for i in range(10)
    ]

    codes = [child.finish() for child in workers]
    detail = "".join(child.describe() for child in workers)
    assert codes == [0, 0], detail
    runs = list(WorkflowRun.objects.filter(pk__in=ids))
    assert {run.status for run in runs} == {RunStatus.SUCCESS}, detail
    assert Counter(run.executor_id for run in runs) == {c.executor_id: 5 for c in workers}
    spans = sorted((start, end) for start, end in (serialization.loads(r.output) for r in runs))
    assert max_overlap(spans) == 1, spans
    for before, after in itertools.pairwise(spans):
        assert before[1] <= after[0], spans


def test_a_killed_workers_run_is_finished_by_another_worker(spawn_worker, executor_id):
    dead, rescuer = executor_id("dead"), executor_id("rescuer")
    wid = enqueue(workflows.QUEUE_PLAIN, "killed-1", workflows.crash_workflow, "killed-1")
    first = spawn_worker(
        "--queues",
        "queues-plain",
        "--no-scheduler",
        executor_id=dead,
        env={**FAST, "DURABLE_TEST_CRASH_AFTER_STEP_2": "1"},
    )
    # The heartbeat thread writes the executor row beside the run: wait for both, so the
    # run is killed after a heartbeat, as in the scenario (a run of an executor that never
    # beat is covered by the recovery tests).
    wait_until(
        lambda: (
            (
                StepOutput.objects.filter(run_id=wid, step_number=2).exists()
                and Executor.objects.filter(pk=dead).exists()
            )
            or first.proc.poll() is not None
        ),
        "step 2 of the first worker's run and its first heartbeat",
        diagnostics=first.describe,
    )
    first.kill()
    killed_at = timezone.now()
    assert first.proc.returncode == -signal.SIGKILL, first.describe()
    run = WorkflowRun.objects.get(pk=wid)
    assert (run.status, run.executor_id) == (RunStatus.PENDING, dead), first.describe()
    last_beat = Executor.objects.get(pk=dead).last_heartbeat_at

    second = spawn_worker(
        *"--queues queues-plain --max-runs 1 --no-scheduler".split(),
        executor_id=rescuer,
        env={**FAST, "DURABLE_TEST_DEAD_EXECUTOR_TIMEOUT": str(DEAD_AFTER)},
    )
    # Start-up (a few seconds at most) + the timeout + one recovery interval.
    assert second.finish(timeout=DEAD_AFTER + 15) == 0, second.describe()

    detail = first.describe() + second.describe()
    run = WorkflowRun.objects.get(pk=wid)
    assert (run.status, run.executor_id, run.recovery_attempts) == (
        RunStatus.SUCCESS,
        rescuer,
        1,
    ), detail
    assert serialization.loads(run.output) == 6
    # Steps 1 and 2 ran once in all (in the killed worker), step 3 once (in the rescuer).
    assert events("killed-1") == [1, 2, 3], detail
    # Not taken over while its executor could still have been alive...
    assert run.started_at is not None and run.completed_at is not None
    assert run.started_at >= last_beat + timedelta(seconds=DEAD_AFTER), detail
    # ... and taken over within the timeout (plus the rescuer's start-up) after the kill.
    assert run.completed_at - killed_at < timedelta(seconds=DEAD_AFTER + 10), detail


def test_sigterm_lets_the_running_workflow_finish_then_exits_0(spawn_worker, executor_id):
    wid = enqueue(workflows.QUEUE_PLAIN, "drain-1", workflows.queued_slow, "drain-1", 3.0)
    child = spawn_worker(
        *"--queues queues-plain --concurrency 1 --no-scheduler".split(),
        executor_id=executor_id("drain"),
        env=FAST,
    )
    wait_until(lambda: events("drain-1") == [1], "the run to start", diagnostics=child.describe)
    waiting = enqueue(workflows.QUEUE_PLAIN, "drain-2", workflows.queued_slow, "drain-2", 0.0)

    child.signal(signal.SIGTERM)

    assert child.finish() == 0, child.describe()
    assert statuses([wid, waiting]) == {wid: RunStatus.SUCCESS, waiting: RunStatus.ENQUEUED}
    assert events("drain-1") == [1, 2]
    assert "Received SIGTERM: draining" in child.stderr()
    assert not Executor.objects.filter(pk=child.executor_id).exists()  # a clean stop


def test_a_second_sigterm_exits_at_once_and_leaves_the_run_pending(spawn_worker, executor_id):
    wid = enqueue(workflows.QUEUE_PLAIN, "hard-1", workflows.queued_slow, "hard-1", 30.0)
    child = spawn_worker(
        "--queues", "queues-plain", "--no-scheduler", executor_id=executor_id("hard"), env=FAST
    )
    wait_until(lambda: events("hard-1") == [1], "the run to start", diagnostics=child.describe)
    child.signal(signal.SIGTERM)
    wait_until(lambda: "draining" in child.stderr(), "the first SIGTERM to be handled")

    sent = time.monotonic()
    child.signal(signal.SIGTERM)
    code = child.finish(timeout=10)

    assert code == 128 + signal.SIGTERM, child.describe()
    assert time.monotonic() - sent < 5, child.describe()
    run = WorkflowRun.objects.get(pk=wid)
    assert (run.status, run.executor_id) == (RunStatus.PENDING, child.executor_id)
    assert events("hard-1") == [1]


def test_a_run_still_going_at_the_shutdown_timeout_is_left_for_recovery(spawn_worker, executor_id):
    wid = enqueue(workflows.QUEUE_PLAIN, "late-1", workflows.queued_slow, "late-1", 30.0)
    child = spawn_worker(
        *"--queues queues-plain --shutdown-timeout 0.5 --no-scheduler".split(),
        executor_id=executor_id("late"),
        env=FAST,
    )
    wait_until(lambda: events("late-1") == [1], "the run to start", diagnostics=child.describe)

    sent = time.monotonic()
    child.signal(signal.SIGTERM)
    code = child.finish(timeout=10)

    assert code == 0, child.describe()
    assert time.monotonic() - sent < 5, child.describe()
    run = WorkflowRun.objects.get(pk=wid)
    assert (run.status, run.executor_id) == (RunStatus.PENDING, child.executor_id)
    # Marked dead on the way out: any live worker recovers the run at once.
    assert child.executor_id in recovery.dead_executor_ids(timezone.now(), 3600.0)


def test_bad_command_lines_exit_with_an_error(spawn_worker, executor_id):
    bad_value = spawn_worker("--concurrency", "0", executor_id=executor_id("bad"))
    unknown = spawn_worker("--queues", "queues-nope", executor_id=executor_id("unknown"))

    assert bad_value.finish() == 2, bad_value.describe()
    assert "argument --concurrency" in bad_value.stderr(), bad_value.describe()
    assert unknown.finish() == 1, unknown.describe()
    assert "Unknown queue(s): queues-nope. Declared queues:" in unknown.stderr()


# ---------------------------------------------------------------- PostgreSQL restart


def pg_cluster_version() -> str | None:
    """The version of the local cluster that ``pg_ctlcluster`` manages, if any."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    return versions[-1] if versions else None


def pg_isready(timeout: float = 60.0) -> None:
    host = str(connection.settings_dict.get("HOST") or "127.0.0.1")
    port = str(connection.settings_dict.get("PORT") or 5432)
    wait_until(
        lambda: (
            subprocess.run(
                ["pg_isready", "-q", "-h", host, "-p", port], check=False, timeout=10
            ).returncode
            == 0
        ),
        "PostgreSQL to accept connections",
        timeout=timeout,
    )


def test_workers_finish_every_run_once_across_a_postgresql_restart(spawn_worker, executor_id):
    """Opt-in (``DURABLE_TEST_PG_RESTART=1``): it restarts the PostgreSQL server, which
    cuts off every other user of that server."""
    if connection.vendor != "postgresql":
        pytest.skip("restarts PostgreSQL")
    if os.environ.get("DURABLE_TEST_PG_RESTART") != "1":
        pytest.skip("restarts the PostgreSQL server: set DURABLE_TEST_PG_RESTART=1 to run it")
    version = pg_cluster_version()
    if version is None or str(connection.settings_dict.get("HOST")) not in (
        "127.0.0.1",
        "localhost",
    ):
        pytest.skip("needs a local cluster managed by pg_ctlcluster")

    ids = [
        enqueue(workflows.QUEUE_PLAIN, f"restart-{i:02d}", workflows.queued_two_transactions, 0.3)
        for i in range(50)
    ]
    workers = [
        spawn_worker(
            *"--queues queues-plain --batch --concurrency 2 --no-scheduler".split(),
            executor_id=executor_id(f"restart{i}"),
            env=FAST,
        )
        for i in (1, 2)
    ]
    wait_until(
        lambda: WorkflowRun.objects.filter(pk__in=ids, status=RunStatus.SUCCESS).count() >= 6,
        "the first runs to finish",
        diagnostics=lambda: "".join(child.describe() for child in workers),
    )
    done_at_restart = list(statuses(ids).values()).count(RunStatus.SUCCESS)
    try:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
            check=True,
            timeout=120,
            capture_output=True,
        )
    finally:
        pg_isready()
        connection.close()  # this process's connection died with the server

    codes = [child.finish(timeout=120) for child in workers]
    detail = "".join(child.describe() for child in workers)
    assert codes == [0, 0], detail
    assert done_at_restart < len(ids), "the restart came after the last run: nothing tested"
    left = {
        run.pk: f"{run.status} {run.to_status().error!r}"
        for run in WorkflowRun.objects.filter(pk__in=ids).exclude(status=RunStatus.SUCCESS)
    }
    assert left == {}, f"runs that did not succeed: {left}{detail}"
    # Each transaction step wrote its Event exactly once: none ran twice, none was lost.
    written = Counter(Event.objects.filter(label__in=ids).values_list("label", "value"))
    assert written == Counter({(wid, value): 1 for wid in ids for value in (1, 2)}), detail
