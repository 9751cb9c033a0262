"""The scheduler loop in real processes: ``manage.py runscheduler --settings tests.settings``
children (``spawn_worker``) racing on one PostgreSQL test database, killed, stopped for a
while and restarted.

Every assertion is on the exact set of slots that got a run (the run ids are deterministic,
``sched-<name>-<UTC iso>``, and each run's first argument is its ``scheduled_at``), never on
how late a slot fired. PostgreSQL only: the scale-out the design promises is "more
processes against the same PostgreSQL".

The children log at INFO on stderr (``runscheduler`` at the default verbosity); the tests
read two of those lines: ``Scheduler started`` (the loop is about to tick) and
``Schedule <name> fired <n> slot(s): <iso>, ...`` (which process won a slot).
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

import django_durable as durable
from django_durable import serialization
from django_durable.models import ScheduleOrigin, ScheduleStatus, WorkflowRun, WorkflowSchedule
from django_durable.schedules.fire import slot_run_id
from tests import workflows
from tests.process.children import Child, wait_until

# Children read what this process writes: commits must be real.
pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]

POLL_INTERVAL = 0.2
"""The children's poll interval: their slot grace is max(1 s, 2 x this) = 1 s."""

FAST = {"DURABLE_TEST_POLL_INTERVAL": str(POLL_INTERVAL)}

SECOND = timedelta(seconds=1)


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "scheduler processes racing on one database: PostgreSQL only "
            "(set DATABASE_URL=postgres://...)"
        )


# ---------------------------------------------------------------- helpers


def scheduler_started(child: Child, timeout: float = 60.0) -> float:
    """Wait until the child's scheduler loop has started (it ticks right after); the
    ``time.time()`` at which that was seen."""
    wait_until(
        lambda: "Scheduler started" in child.stderr() or child.proc.poll() is not None,
        "the scheduler to start",
        timeout=timeout,
        diagnostics=child.describe,
    )
    assert child.proc.poll() is None, f"The child ended at start-up.{child.describe()}"
    return time.time()


def slot_counts(schedule_name: str) -> Counter[datetime]:
    """How many runs each slot of ``schedule_name`` has (by the ``scheduled_at`` each run
    receives), checking each run's id is the slot's deterministic id."""
    counts: Counter[datetime] = Counter()
    for run in WorkflowRun.objects.filter(schedule_name=schedule_name):
        scheduled_at = serialization.loads(run.inputs)["args"][0]
        assert run.workflow_id == slot_run_id(schedule_name, scheduled_at), run.workflow_id
        counts[scheduled_at.astimezone(UTC)] += 1
    return counts


def has_run(schedule_name: str, slot: datetime) -> bool:
    return WorkflowRun.objects.filter(pk=slot_run_id(schedule_name, slot)).exists()


def every(step: timedelta, first: datetime, last: datetime) -> list[datetime]:
    """``first, first + step, ...`` up to and including ``last``."""
    slots = []
    slot = first
    while slot <= last:
        slots.append(slot)
        slot += step
    return slots


def fired_by(child: Child, schedule_name: str) -> list[datetime]:
    """The slots of ``schedule_name`` this child logged it fired (it won the race)."""
    pattern = re.compile(rf"Schedule {re.escape(schedule_name)} fired \d+ slot\(s\): (.*)")
    slots = []
    for match in pattern.finditer(child.stderr()):
        slots.extend(datetime.fromisoformat(s) for s in match.group(1).split(", ") if s != "...")
    return slots


def sleep_until(moment: datetime) -> None:
    remaining = (moment - timezone.now()).total_seconds()
    if remaining > 0:
        time.sleep(remaining)


def stop(child: Child, timeout: float = 30.0) -> None:
    """SIGTERM, and a clean exit."""
    child.signal(signal.SIGTERM)
    assert child.finish(timeout=timeout) == 0, child.describe()


def describe(children: list[Child]) -> str:
    return "".join(child.describe() for child in children)


# ---------------------------------------------------------------- three racing schedulers


def race(spawn_worker, executor_id, name: str, *, kill_one: bool) -> None:
    """Three ``runscheduler`` processes (scheduler and worker in each, the default shape of
    a deployment) fire one ``* * * * * *`` schedule for 11 slots (about 10 s); with
    ``kill_one`` the process that fired the latest slot is SIGKILLed after slot 6.

    The window has no edge to exclude at its start: the schedule is created only once all
    three loops have started, so its first slot is the ``next_fire_at`` that
    ``create_schedule`` returns, and that slot must have a run. At the end the schedule
    is paused (a paused schedule fires nothing more) before the processes stop, so the
    window is [first slot, last slot fired], and every slot in it must have one run.
    """
    children = [spawn_worker(executor_id=executor_id(f"{name}-{i}"), env=FAST) for i in range(3)]
    for child in children:
        scheduler_started(child)

    first = datetime.fromisoformat(
        durable.create_schedule(
            schedule_name=name, workflow_fn=workflows.scheduled_report, schedule="* * * * * *"
        )["next_fire_at"]
    )
    half, last = first + 5 * SECOND, first + 10 * SECOND
    survivors = list(children)
    killed_at = victim = None
    if kill_one:
        wait_until(
            lambda: has_run(name, half),
            f"slot {half}",
            timeout=(half - timezone.now()).total_seconds() + 30,
            diagnostics=lambda: describe(children),
        )
        # The one that won the latest slot so far: a process that is firing, not an idle one.
        victim = max(children, key=lambda child: max(fired_by(child, name), default=first))
        victim.kill()
        killed_at = timezone.now()
        assert victim.proc.returncode == -signal.SIGKILL, victim.describe()
        survivors.remove(victim)

    wait_until(
        lambda: has_run(name, last),
        f"slot {last}",
        timeout=(last - timezone.now()).total_seconds() + 30,
        diagnostics=lambda: describe(children),
    )
    durable.pause_schedule(name)
    paused_at = timezone.now()
    for child in survivors:
        assert child.proc.poll() is None, child.describe()  # alive throughout the window
    for child in survivors:
        stop(child)

    detail = describe(children)
    counts = slot_counts(name)
    assert [slot for slot, n in counts.items() if n > 1] == [], f"duplicates{detail}"
    slots = sorted(counts)
    assert slots == every(SECOND, first, slots[-1]), f"missing slots{detail}"
    assert last <= slots[-1] <= paused_at, detail
    if killed_at is not None:
        assert slots[-1] > killed_at + 2 * SECOND, detail  # the survivors went on firing
    # No run was created before its slot.
    early = [
        run.workflow_id
        for run in WorkflowRun.objects.filter(schedule_name=name)
        if run.created_at < serialization.loads(run.inputs)["args"][0]
    ]
    assert early == [], detail
    # Each slot was won by exactly one process (the losers' compare-and-set failed and
    # they logged nothing). A SIGKILL may land between a commit and its log line, so the
    # killed process's log may lack its last slot.
    logged = Counter(slot for child in children for slot in fired_by(child, name))
    print("DEBUG", name, [len(fired_by(c, name)) for c in children], len(slots), victim and victim.executor_id, killed_at, slots[0], slots[-1])
    assert [slot for slot, n in logged.items() if n > 1] == [], detail
    if victim is None:
        assert sorted(logged) == slots, detail
    else:
        assert set(logged) <= set(slots), detail
        unlogged = set(slots) - set(logged)
        assert len(unlogged) <= 1 and all(slot <= killed_at for slot in unlogged), detail
        assert fired_by(victim, name), detail  # it was firing when it was killed


def test_three_schedulers_fire_each_second_slot_exactly_once(spawn_worker, executor_id):
    race(spawn_worker, executor_id, "race-per-second", kill_one=False)


def test_a_scheduler_killed_half_way_leaves_no_slot_missing_or_doubled(spawn_worker, executor_id):
    race(spawn_worker, executor_id, "race-per-second-kill", kill_one=True)


# ---------------------------------------------------------------- downtime catch-up


def downtime_seconds() -> int:
    """``DURABLE_TEST_DOWNTIME_SECONDS`` (default 300), rounded up to whole 10 s periods."""
    seconds = float(os.environ.get("DURABLE_TEST_DOWNTIME_SECONDS") or 300)
    return max(10, math.ceil(seconds / 10) * 10)


@pytest.mark.skipif(
    os.environ.get("DURABLE_TEST_LONG") != "1",
    reason="stops a scheduler for 5 minutes: set DURABLE_TEST_LONG=1 to run it "
    "(DURABLE_TEST_DOWNTIME_SECONDS shortens the downtime while developing)",
)
def test_slots_missed_while_stopped_are_caught_up_only_with_automatic_backfill(
    spawn_worker, executor_id
):
    """One scheduler-only process serves two ``*/10 * * * * *`` schedules; it is stopped
    (SIGTERM) 3 s after a slot X and started again 3 s after slot X + downtime, so no slot
    is within 3 s of either edge (the grace is 1 s). The first slot after the restart,
    R = X + downtime + 10, is on time for any start-up under 7 s (checked).

    - backfill on: every slot from its first to the end, once: X + 10 ... X + downtime were
      enqueued at the restart (catch-up), none of them before.
    - backfill off: the slots up to X, then R and on; none of the downtime slots.
    """
    downtime = timedelta(seconds=downtime_seconds())
    period = 10 * SECOND
    on, off = "catch-up-backfill-on", "catch-up-backfill-off"
    firsts = {
        name: datetime.fromisoformat(
            durable.create_schedule(
                schedule_name=name,
                workflow_fn=workflows.scheduled_report,
                schedule="*/10 * * * * *",
                automatic_backfill=name == on,
            )["next_fire_at"]
        )
        for name in (on, off)
    }
    first = spawn_worker("--no-worker", executor_id=executor_id("before"), env=FAST)
    scheduler_started(first)
    x = max(firsts.values())
    wait_until(
        lambda: has_run(on, x) and has_run(off, x),
        f"slot {x} of both schedules",
        timeout=(x - timezone.now()).total_seconds() + 30,
        diagnostics=first.describe,
    )
    sleep_until(x + 3 * SECOND)
    stop(first)
    stopped_at = timezone.now()
    assert stopped_at < x + period - 2 * SECOND, f"stopping took too long{first.describe()}"
    for name in (on, off):
        assert sorted(slot_counts(name)) == every(period, firsts[name], x), first.describe()

    restart_at = x + 3 * SECOND + downtime
    resumed = restart_at - 3 * SECOND + period  # R: the first slot after the restart
    sleep_until(restart_at)
    restarted_at = timezone.now()
    scheduler = spawn_worker("--no-worker", executor_id=executor_id("after"), env=FAST)
    started = datetime.fromtimestamp(scheduler_started(scheduler), UTC)
    assert started < resumed - 0.5 * SECOND, (
        f"the scheduler took {started - restarted_at} to start: the expected slots below "
        f"assume it ticked before {resumed}{scheduler.describe()}"
    )
    end = resumed + period  # left running ~15 s after the restart
    wait_until(
        lambda: has_run(on, end) and has_run(off, end),
        f"slot {end} of both schedules",
        timeout=(end - timezone.now()).total_seconds() + 30,
        diagnostics=scheduler.describe,
    )
    stop(scheduler)
    assert timezone.now() < end + period, f"stopping took too long{scheduler.describe()}"

    detail = first.describe() + scheduler.describe()
    counts = {name: slot_counts(name) for name in (on, off)}
    for name in (on, off):
        assert [s for s, n in counts[name].items() if n > 1] == [], f"{name} duplicates{detail}"
    caught_up = every(period, x + period, x + downtime)
    assert len(caught_up) == downtime // period
    assert sorted(counts[on]) == every(period, firsts[on], end), detail
    assert sorted(counts[off]) == [*every(period, firsts[off], x), resumed, end], detail
    late = {
        serialization.loads(run.inputs)["args"][0]: run.created_at
        for run in WorkflowRun.objects.filter(schedule_name=on)
    }
    assert all(late[slot] >= restarted_at for slot in caught_up), detail
    # What the restarted scheduler said: it caught up in one fire, and skipped for the other.
    log = scheduler.stderr()
    assert f"Schedule {on} fired {len(caught_up)} slot(s): " in log, detail
    assert f"Schedule {off} missed slots since {(x + period).isoformat()}" in log, detail
    assert f"Schedule {on} missed slots" not in log, detail


# ---------------------------------------------------------------- start and stop


def test_code_schedules_are_written_at_start_and_sigterm_exits_0_promptly(
    spawn_worker, executor_id
):
    name = "code-every-5-minutes"
    assert not WorkflowSchedule.objects.filter(schedule_name=name).exists()
    before = timezone.now()
    child = spawn_worker("--no-worker", executor_id=executor_id("code"), env=FAST)

    row = wait_until(
        lambda: WorkflowSchedule.objects.filter(schedule_name=name).first(),
        f"the {name} row",
        timeout=60,
        diagnostics=child.describe,
    )
    assert (row.origin, row.status, row.schedule, row.context) == (
        ScheduleOrigin.CODE,
        ScheduleStatus.ACTIVE,
        "0 */5 * * * *",
        {"source": "code"},
    ), child.describe()
    assert (row.workflow_name, row.automatic_backfill) == ("code_scheduled", False)
    assert before <= row.created_at <= timezone.now()
    # Its first slot: the next 5-minute boundary after it was written.
    created = row.created_at
    boundary = created.replace(minute=created.minute - created.minute % 5, second=0, microsecond=0)
    assert row.next_fire_at == boundary + timedelta(minutes=5), row.next_fire_at
    child.expect_line("django_durable scheduler: ")
    scheduler_started(child)

    sent = time.monotonic()
    child.signal(signal.SIGTERM)
    code = child.finish(timeout=30)
    took = time.monotonic() - sent

    assert code == 0, child.describe()
    assert took < 3.0, f"exit took {took:.2f}s{child.describe()}"
    assert "Received SIGTERM: draining" in child.stderr(), child.describe()
    child.expect_line("django_durable scheduler stopped (")
