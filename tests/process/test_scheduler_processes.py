"""The scheduler loop in real processes: ``manage.py runscheduler --settings tests.settings``
children (``spawn_worker``) racing on one PostgreSQL test database, killed, stopped for a
while and restarted.

Every assertion is on the exact set of slots that got a run (the run ids are deterministic,
``sched-<name>-<UTC iso>``, and each run's first argument is its ``scheduled_at``), never on
how late a slot fired. PostgreSQL only: the scale-out the design promises is "more
processes against the same PostgreSQL".

The children log on stderr; the tests read ``Scheduler started`` (the loop is about to
tick), ``Fired <n> schedule(s) ...`` (a batch a process committed, INFO) and ``Schedule
<name> fired <n> slot(s): <iso>, ...`` (one schedule's fire, DEBUG: ``--verbosity 2``).
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
            "scheduler processes on one shared database: PostgreSQL only "
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

BURST = 2000
"""Schedules due every second in the race: a burst each second that the three
schedulers split between them (each batch locks different rows)."""


def fired_batches(child: Child) -> int:
    """How many batches this child committed (its ``Fired ...`` lines)."""
    return len(re.findall(r"Fired \d+ schedule\(s\)", child.stderr()))


def runs_of_slot(slot: datetime) -> int:
    suffix = slot.astimezone(UTC).isoformat(timespec="seconds")
    return WorkflowRun.objects.filter(
        schedule_name__startswith="burst-", workflow_id__endswith=suffix
    ).count()


def test_three_schedulers_fire_each_slot_of_a_burst_once_with_one_killed_mid_burst(
    spawn_worker, executor_id
):
    """Three ``runscheduler --no-worker`` processes and 2,000 schedules due every second.
    One process is SIGKILLed while a burst is being fired (some of its slot's runs are
    committed, not all); the survivors fire the rest. Every schedule then has exactly one
    run per slot, from its first slot to its last, and no run was created before its
    slot. The schedules use automatic backfill so that a slot a starved machine reaches
    late is still fired, never skipped as missed.
    """
    children = [
        spawn_worker("--no-worker", executor_id=executor_id(f"burst-{i}"), env=FAST)
        for i in range(3)
    ]
    for child in children:
        scheduler_started(child)
    written = durable.apply_schedules(
        [
            {
                "schedule_name": f"burst-{i:04d}",
                "workflow_fn": workflows.scheduled_report,
                "schedule": "* * * * * *",
                "automatic_backfill": True,
            }
            for i in range(BURST)
        ]
    )
    firsts = {
        item["schedule_name"]: datetime.fromisoformat(item["next_fire_at"]) for item in written
    }
    start = max(firsts.values())

    # Kill one process while a burst is half committed.
    victim = None
    slot = start + 2 * SECOND
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        count = runs_of_slot(slot)
        if 0 < count < BURST:
            victim = max(children, key=fired_batches)  # the busiest one
            victim.kill()
            killed_count, killed_at = count, timezone.now()
        elif count == BURST:
            slot += SECOND  # that burst was over before we looked: try the next one
        else:
            time.sleep(0.002)
    assert victim is not None, f"never saw a burst in progress{describe(children)}"
    assert victim.proc.returncode == -signal.SIGKILL, victim.describe()
    survivors = [child for child in children if child is not victim]

    last = killed_at.replace(microsecond=0) + 4 * SECOND
    wait_until(
        lambda: runs_of_slot(last) == BURST,
        f"every run of slot {last}",
        timeout=(last - timezone.now()).total_seconds() + 60,
        diagnostics=lambda: describe(children),
    )
    WorkflowSchedule.objects.filter(schedule_name__startswith="burst-").update(
        status=ScheduleStatus.PAUSED
    )
    for child in survivors:
        assert child.proc.poll() is None, child.describe()
        stop(child)

    detail = f"\nkilled at {killed_at} with {killed_count} runs of {slot}{describe(children)}"
    slots: dict[str, list[datetime]] = {name: [] for name in firsts}
    early = []
    for run_id, name, created in WorkflowRun.objects.filter(
        schedule_name__startswith="burst-"
    ).values_list("workflow_id", "schedule_name", "created_at"):
        assert name is not None
        at = datetime.fromisoformat(run_id[len(f"sched-{name}-") :])
        slots[name].append(at)
        if created < at:
            early.append(run_id)
    assert early == [], detail
    for name, fired in slots.items():
        fired.sort()
        # One run per slot (run ids are unique), and no slot missing in between.
        assert fired == every(SECOND, firsts[name], fired[-1]), f"{name}{detail}"
        assert fired[-1] >= last, f"{name}{detail}"
    # The bursts were split: every process committed batches, the victim before it died.
    assert all(fired_batches(child) for child in children), detail


# ---------------------------------------------------------------- downtime catch-up


def downtime_seconds() -> int:
    """``DURABLE_TEST_DOWNTIME_SECONDS`` (default 300), rounded up to whole 10 s periods."""
    seconds = float(os.environ.get("DURABLE_TEST_DOWNTIME_SECONDS") or 300)
    return max(10, math.ceil(seconds / 10) * 10)


def next_on_grid(moment: datetime, period: timedelta) -> datetime:
    """The first multiple of ``period`` (from the epoch) at or after ``moment``."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + math.ceil((moment - epoch) / period) * period


@pytest.mark.skipif(
    os.environ.get("DURABLE_TEST_LONG") != "1",
    reason="stops a scheduler for 5 minutes: set DURABLE_TEST_LONG=1 to run it "
    "(DURABLE_TEST_DOWNTIME_SECONDS shortens the downtime while developing)",
)
def test_slots_missed_while_stopped_are_caught_up_only_with_automatic_backfill(
    spawn_worker, executor_id
):
    """One scheduler-only process serves two ``*/10 * * * * *`` schedules; it is stopped
    (SIGTERM, then its exit) 3 s after a slot X and started again 3 s after slot
    X + downtime, so neither edge is within a couple of seconds of a slot (the grace is
    1 s). Slot X + 10 must come after the exit (checked).

    The restarted process's first tick comes at T, some start-up time after the spawn.
    T is read back from the database: it is at most the ``created_at`` of the first
    caught-up run (that run is built right after the tick reads its clock), and at least
    a second less (the tick's own work; far less in practice).

    - backfill on: every slot from its first one to the end, once each. The downtime
      slots X + 10 ... X + downtime (30 with the default 5 minutes) and any slot up to T
      were enqueued by the restarted process (created after the restart), in its first
      fire, and none before.
    - backfill off: the slots up to X, then only the slots after T - grace (on time at
      the first tick): none of the downtime slots. The only slot that may go either way
      is one within that second of uncertainty about T - grace; with the spawn at :03 of
      a period that happens only for a start-up of 8 to 10 s.
    """
    downtime = timedelta(seconds=downtime_seconds())
    period, grace = 10 * SECOND, SECOND  # grace: max(1 s, 2 x 0.2 s poll interval)
    on, off = "catch-up-backfill-on", "catch-up-backfill-off"
    # Started before the schedules exist, so their first slots fire on time.
    first = spawn_worker(
        "--no-worker", "--verbosity", "2", executor_id=executor_id("before"), env=FAST
    )
    scheduler_started(first)
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
    assert stopped_at < x + period - SECOND, f"stopping took too long{first.describe()}"
    for name in (on, off):
        assert sorted(slot_counts(name)) == every(period, firsts[name], x), first.describe()

    sleep_until(x + 3 * SECOND + downtime)
    restarted_at = timezone.now()
    scheduler = spawn_worker(
        "--no-worker", "--verbosity", "2", executor_id=executor_id("after"), env=FAST
    )
    scheduler_started(scheduler)
    wait_until(
        lambda: has_run(on, x + period),
        "the catch-up of the first downtime slot",
        diagnostics=scheduler.describe,
    )
    first_tick = min(  # T <= this <= T + 1 s
        WorkflowRun.objects.filter(schedule_name=on, created_at__gt=stopped_at).values_list(
            "created_at", flat=True
        )
    )
    end = next_on_grid(first_tick, period) + period  # left running ~15 s after the restart
    wait_until(
        lambda: has_run(on, end) and has_run(off, end),
        f"slot {end} of both schedules",
        timeout=(end - timezone.now()).total_seconds() + 30,
        diagnostics=scheduler.describe,
    )
    stop(scheduler)
    assert timezone.now() < end + period, f"stopping took too long{scheduler.describe()}"

    detail = (
        f"\nX={x} stopped={stopped_at} restarted={restarted_at} first tick<={first_tick} "
        f"end={end}{first.describe()}{scheduler.describe()}"
    )
    counts = {name: slot_counts(name) for name in (on, off)}
    for name in (on, off):
        assert [s for s, n in counts[name].items() if n > 1] == [], f"{name} duplicates{detail}"
    assert restarted_at < first_tick < restarted_at + 60 * SECOND, detail

    # Backfill on: every slot, once; the downtime ones enqueued after the restart.
    downtime_slots = every(period, x + period, x + downtime)
    assert sorted(counts[on]) == every(period, firsts[on], end), detail
    caught_up = every(period, x + period, first_tick - grace)  # surely <= T
    assert set(downtime_slots) <= set(caught_up), detail
    created = {
        serialization.loads(inputs)["args"][0]: created_at
        for inputs, created_at in WorkflowRun.objects.filter(schedule_name=on).values_list(
            "inputs", "created_at"
        )
    }
    assert all(created[slot] >= restarted_at for slot in caught_up), detail
    fires = re.findall(rf"Schedule {on} fired (\d+) slot\(s\): ([^ ,]+)", scheduler.stderr())
    assert fires and int(fires[0][0]) >= len(caught_up), detail  # all in its first fire
    assert datetime.fromisoformat(fires[0][1]) == x + period, detail

    # Backfill off: the slots up to X, then only those on time at the first tick or later.
    after_stop = every(period, x + period, end)
    on_time = [slot for slot in after_stop if slot > first_tick - grace]
    undecided = {
        slot for slot in after_stop if first_tick - 2 * grace < slot <= first_tick - grace
    }
    expected = set(every(period, firsts[off], x) + on_time)
    assert set(counts[off]) - undecided == expected - undecided, detail
    assert not set(counts[off]) & set(downtime_slots), detail
    log = scheduler.stderr()
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
    # Its first slot: the next 5-minute boundary after it was written (which it may have
    # fired already if that boundary came just after).
    created = row.created_at
    slot = created.replace(minute=created.minute - created.minute % 5, second=0, microsecond=0)
    slot += timedelta(minutes=5)
    if row.last_fired_at is None:
        assert row.next_fire_at == slot, (row.created_at, row.next_fire_at)
    else:
        assert (row.last_fired_at, row.next_fire_at) == (slot, slot + timedelta(minutes=5))
    child.expect_line("django_durable scheduler: ")
    scheduler_started(child)

    sent = time.monotonic()
    child.signal(signal.SIGTERM)
    code = child.finish(timeout=30)
    took = time.monotonic() - sent

    assert code == 0, child.describe()
    assert took < 10.0, f"exit took {took:.2f}s{child.describe()}"  # the default timeout: 30 s
    assert "Received SIGTERM: draining" in child.stderr(), child.describe()
    child.expect_line("django_durable scheduler stopped (")
