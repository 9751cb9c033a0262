"""``manage.py runscheduler`` in this process (``call_command``): its flags, what it prints,
and its errors. Real processes and signals are in ``tests/process/test_workers.py``."""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import Iterator
from datetime import datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

import django_durable as durable
from django_durable import conf, registry
from django_durable.management.commands import runscheduler as runscheduler_command
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.schedules import sync_code_schedules
from django_durable.worker import Worker
from tests import workflows
from tests.integration.workers import release
from tests.process.children import max_overlap

pytestmark = pytest.mark.django_db(transaction=True)


class ReleasedWorker(Worker):
    """The command's worker, released when it returns (see ``workers.release``)."""

    def run(self) -> int:
        try:
            return super().run()
        finally:
            release(self)


@pytest.fixture(autouse=True)
def _restore_process_state(worker_id: str, monkeypatch) -> Iterator[None]:
    """The command installs SIGTERM/SIGINT handlers and sets the django_durable log level
    for its process; put this test process's back afterwards."""
    monkeypatch.setattr(runscheduler_command, "Worker", ReleasedWorker)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    logger = logging.getLogger("django_durable")
    level = logger.level
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    logger.setLevel(level)


def runscheduler(*args: str) -> str:
    """Run the command; what it printed on stdout."""
    out = StringIO()
    call_command("runscheduler", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def enqueue(queue: Any, fn: Any, *args: Any) -> str:
    return str(queue.enqueue(fn, *args).workflow_id)


def status(workflow_id: str) -> str:
    return str(WorkflowRun.objects.get(pk=workflow_id).status)


def pause_code_schedules() -> None:
    """Write the code-defined schedules now, paused: the command's scheduler keeps them
    paused, so a slot of theirs coming due between its start and its tick (every 5
    minutes in the test settings) adds no run to what a test counts."""
    sync_code_schedules(timezone.now())
    names = WorkflowSchedule.objects.filter(origin="code").values_list("schedule_name", flat=True)
    assert names
    for name in names:
        assert durable.pause_schedule(name) is True


def test_batch_runs_what_is_enqueued_then_returns_and_says_what_it_served(worker_id):
    pause_code_schedules()
    ids = [enqueue(workflows.QUEUE_PLAIN, workflows.three_steps, i) for i in range(3)]

    out = runscheduler("--batch", "--queues", "queues-plain", "--executor-id", worker_id)

    assert [status(wid) for wid in ids] == [RunStatus.SUCCESS] * 3
    assert {WorkflowRun.objects.get(pk=wid).executor_id for wid in ids} == {worker_id}
    worker_line, scheduler_line, last = out.strip().splitlines()
    assert worker_line == (
        f"django_durable worker {worker_id}: queues queues-plain, _durable_internal; "
        "concurrency 8; "
        f"{len(registry.workflow_names())} workflows registered; batch mode"
    )
    assert scheduler_line == (
        f"django_durable scheduler: {len(registry.code_schedules())} code-defined "
        f"schedule(s); poll interval {conf.get('POLL_INTERVAL'):g}s; batch mode"
    )
    assert last == f"django_durable worker {worker_id} stopped (3 runs)."


def test_queues_picks_the_queues_served(worker_id):
    plain = enqueue(workflows.QUEUE_PLAIN, workflows.three_steps, 1)
    serial = enqueue(workflows.QUEUE_SERIAL, workflows.three_steps, 2)
    limited = enqueue(workflows.QUEUE_LIMITED, workflows.three_steps, 3)

    out = runscheduler(
        "--batch", "--queues", " queues-plain, queues-limited ,", "--executor-id", worker_id
    )

    assert "queues queues-plain, queues-limited, _durable_internal;" in out
    assert [status(plain), status(limited), status(serial)] == [
        RunStatus.SUCCESS,
        RunStatus.SUCCESS,
        RunStatus.ENQUEUED,
    ]


def test_without_queues_every_declared_queue_is_served(worker_id):
    out = runscheduler("--batch", "--executor-id", worker_id)
    names = ", ".join(q.name for q in registry.all_queues())
    assert f"queues {names};" in out
    assert "queues-plain" in names and durable.queues.INTERNAL_QUEUE_NAME in names


def test_an_unknown_queue_is_an_error_that_lists_the_declared_ones(worker_id):
    wid = enqueue(workflows.QUEUE_PLAIN, workflows.three_steps, 1)
    with pytest.raises(CommandError) as caught:
        runscheduler("--batch", "--queues", "queues-plain,queues-nope", "--executor-id", worker_id)
    message = str(caught.value)
    assert "Unknown queue(s): queues-nope." in message
    for queue in registry.all_queues():
        assert queue.name in message.split("Declared queues:")[1]
    assert status(wid) == RunStatus.ENQUEUED


@pytest.mark.parametrize("value", ["", " , "])
def test_an_empty_queue_list_is_an_error(value):
    with pytest.raises(CommandError, match="--queues needs at least one queue name"):
        runscheduler("--batch", "--queues", value)


def test_concurrency_sets_how_many_runs_execute_at_once(worker_id):
    ids = [enqueue(workflows.QUEUE_PLAIN, workflows.queued_timed, 0.05) for _ in range(3)]
    out = runscheduler(
        *"--max-runs 3 --queues queues-plain --concurrency 1 --executor-id".split(),
        worker_id,
    )
    assert "; concurrency 1;" in out
    outputs = [WorkflowRun.objects.get(pk=wid).to_status().output for wid in ids]
    assert max_overlap([(start, end) for start, end in outputs]) == 1


def test_max_runs_exits_once_that_many_runs_have_finished(worker_id):
    ids = [enqueue(workflows.QUEUE_PLAIN, workflows.three_steps, i) for i in range(3)]
    out = runscheduler("--max-runs", "2", "--queues", "queues-plain", "--executor-id", worker_id)
    assert sorted(status(wid) for wid in ids) == [RunStatus.ENQUEUED] + [RunStatus.SUCCESS] * 2
    assert "batch mode" not in out
    assert out.strip().endswith("stopped (2 runs).")


def test_shutdown_timeout_zero_is_accepted(worker_id):
    out = runscheduler(
        "--batch", "--shutdown-timeout", "0", "--no-scheduler", "--executor-id", worker_id
    )
    assert f"worker {worker_id} stopped (0 runs)." in out


def last_whole_second() -> datetime:
    """A slot of a per-second cron that has just come due."""
    return timezone.now().replace(microsecond=0)


def test_no_worker_and_no_scheduler_together_is_an_error():
    with pytest.raises(CommandError, match="Nothing to run: --no-worker and --no-scheduler"):
        runscheduler("--no-worker", "--no-scheduler")


def test_no_worker_batch_fires_due_schedules_and_leaves_the_runs_enqueued():
    durable.create_schedule(
        schedule_name="every-second",
        workflow_fn=workflows.scheduled_report,
        schedule="* * * * * *",
        context={"n": 1},
    )
    pause_code_schedules()
    WorkflowSchedule.objects.filter(schedule_name="every-second").update(
        next_fire_at=last_whole_second()
    )

    out = runscheduler("--no-worker", "--batch")

    assert "django_durable worker" not in out
    assert "django_durable scheduler: 1 code-defined schedule(s)" in out
    # One slot, or two if the batch ran across a second boundary.
    fired = re.search(r"scheduler stopped \((\d+) slots fired\)", out)
    assert fired is not None, out
    runs = WorkflowRun.objects.filter(schedule_name="every-second")
    assert {(run.status, run.queue_name) for run in runs} == {
        (RunStatus.ENQUEUED, durable.queues.INTERNAL_QUEUE_NAME)
    }
    assert len(runs) == int(fired[1]) in (1, 2), out
    assert WorkflowRun.objects.filter(schedule_name="code-every-5-minutes").count() == 0
    assert WorkflowSchedule.objects.filter(schedule_name="code-every-5-minutes").exists()


def test_batch_fires_due_schedules_then_drains_their_runs(worker_id):
    durable.create_schedule(
        schedule_name="drained", workflow_fn=workflows.scheduled_report, schedule="* * * * * *"
    )
    WorkflowSchedule.objects.update(next_fire_at=last_whole_second())

    runscheduler("--batch", "--executor-id", worker_id)

    # One slot, or two if the batch ran across a second boundary: all of them drained.
    runs = WorkflowRun.objects.filter(schedule_name="drained")
    assert 1 <= len(runs) <= 2
    assert {(run.status, run.executor_id) for run in runs} == {(RunStatus.SUCCESS, worker_id)}


def test_no_scheduler_writes_no_code_defined_schedule(worker_id):
    runscheduler("--batch", "--no-scheduler", "--executor-id", worker_id)
    assert not WorkflowSchedule.objects.exists()


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_executor_id_is_an_error(value):
    with pytest.raises(CommandError, match="--executor-id must not be empty"):
        runscheduler("--batch", "--executor-id", value)


@pytest.mark.parametrize(
    ("option", "value", "reason"),
    [
        ("--concurrency", "0", ">= 1"),
        ("--concurrency", "-1", ">= 1"),
        ("--concurrency", "x", "whole number"),
        ("--concurrency", "1.5", "whole number"),
        ("--max-runs", "0", ">= 1"),
        ("--max-runs", "-1", ">= 1"),
        ("--max-runs", "x", "whole number"),
        ("--shutdown-timeout", "-1", ">= 0"),
        ("--shutdown-timeout", "x", "number of seconds"),
    ],
)
def test_a_bad_value_is_a_clear_error(option, value, reason):
    """The error names the option, the value and what was expected."""
    with pytest.raises(CommandError) as caught:
        runscheduler("--batch", option, value)
    message = str(caught.value)
    assert option in message and repr(value) in message, message
    assert reason in message, message
