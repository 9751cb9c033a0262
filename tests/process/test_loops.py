"""Nothing stops a ``runscheduler``'s loops for good: a schedule row that cannot fire is
skipped while the others keep firing, and a loop that dies anyway takes its process down
at once with a non-zero status (a supervisor then starts a new one).

Real ``manage.py runscheduler --settings tests.settings`` children, on SQLite and on
PostgreSQL. Assertions are on rows, exit statuses and log lines, never on how fast
anything happened.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

import django_durable as durable
from django_durable.management.commands.runscheduler import EXIT_LOOP_DIED
from django_durable.models import Executor, WorkflowRun, WorkflowSchedule
from django_durable.schedules.fire import slot_run_id
from tests import workflows
from tests.process.children import Child, wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

FAST = {"DURABLE_TEST_POLL_INTERVAL": "0.2"}
SECOND = timedelta(seconds=1)


def scheduler_started(child: Child) -> None:
    wait_until(
        lambda: "Scheduler started" in child.stderr() or child.proc.poll() is not None,
        "the scheduler to start",
        timeout=60,
        diagnostics=child.describe,
    )
    assert child.proc.poll() is None, f"The child ended at start-up.{child.describe()}"


def insert_raw(name: str, cron: str, next_fire_at: datetime | None) -> None:
    """A schedule row written by raw SQL, past every validation."""
    table = WorkflowSchedule._meta.db_table
    q = connection.ops.quote_name
    columns = [
        "schedule_id",
        "schedule_name",
        "workflow_name",
        "schedule",
        "status",
        "automatic_backfill",
        "origin",
        "next_fire_at",
        "created_at",
        "updated_at",
    ]
    now = timezone.now()
    pk = WorkflowSchedule._meta.pk
    assert pk is not None
    values = [
        pk.get_db_prep_value(uuid.uuid4(), connection),
        name,
        "scheduled_report",
        cron,
        "ACTIVE",
        False,
        "runtime",
        connection.ops.adapt_datetimefield_value(next_fire_at),
        connection.ops.adapt_datetimefield_value(now),
        connection.ops.adapt_datetimefield_value(now),
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(table)} ({', '.join(map(q, columns))}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(columns))})",
            values,
        )


def test_a_never_matching_cron_written_by_raw_sql_is_skipped_and_the_others_keep_firing(
    spawn_worker, executor_id
):
    # No next fire time: the scheduler's first review tries to compute one.
    insert_raw("never-unscheduled", "0 0 31 4 *", None)
    child = spawn_worker("--no-worker", executor_id=executor_id("bad-cron"), env=FAST)
    scheduler_started(child)
    # A scheduler-only process heartbeats too (what `durable health` checks).
    wait_until(
        lambda: Executor.objects.filter(pk=child.executor_id).exists(),
        "the scheduler-only process's heartbeat",
        diagnostics=child.describe,
    )
    first = datetime.fromisoformat(
        durable.create_schedule(
            schedule_name="healthy",
            workflow_fn=workflows.scheduled_report,
            schedule="* * * * * *",
            automatic_backfill=True,  # a starved machine fires late slots, never skips them
        )["next_fire_at"]
    )
    # Due now, written while the scheduler runs: a tick selects it. Neither cron has a
    # date it matches (30 February, 31 April).
    insert_raw("never-due", "0 0 30 2 *", timezone.now() - SECOND)
    last = first + 5 * SECOND

    wait_until(
        lambda: WorkflowRun.objects.filter(pk=slot_run_id("healthy", last)).exists(),
        f"slot {last} of the healthy schedule",
        timeout=(last - timezone.now()).total_seconds() + 30,
        diagnostics=child.describe,
    )

    assert child.proc.poll() is None, child.describe()
    fired = sorted(
        WorkflowRun.objects.filter(schedule_name="healthy").values_list("pk", flat=True)
    )
    expected = [slot_run_id("healthy", first + n * SECOND) for n in range(6)]
    assert fired[:6] == expected, child.describe()
    assert not WorkflowRun.objects.filter(schedule_name__startswith="never-").exists()
    log = child.stderr()
    for name in ("never-due", "never-unscheduled"):
        lines = [line for line in log.splitlines() if f"Schedule {name} cannot fire" in line]
        assert len(lines) == 1, child.describe()
        assert "never fires" in lines[0], child.describe()


@pytest.mark.parametrize("loop", ["scheduler", "worker"])
def test_a_loop_that_dies_ends_its_process_at_once_with_a_non_zero_status(
    spawn_worker, executor_id, loop
):
    # Both loops run (the default shape): the scheduler on a thread, the worker in the
    # main thread. The broken one raises after its first round; the process must not
    # linger with the other loop still running.
    child = spawn_worker(
        executor_id=executor_id(f"dies-{loop}"),
        env={**FAST, "DURABLE_TEST_BREAK_LOOP": loop},
    )

    status = child.finish(timeout=60)

    assert status == EXIT_LOOP_DIED, child.describe()
    log = child.stderr()
    assert f"The {loop} loop died; exiting with status {EXIT_LOOP_DIED}" in log, log
    assert f"InjectedFault: injected fault in the {loop} loop" in log, log
