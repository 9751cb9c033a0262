"""The scheduler at scale: batches, fairness to the clock, stopping within a batch, its
connection, and rows that cannot fire.

The clock is the test's: a function that the scheduler reads, which some tests use to
act between two batches (move time on, ask for a stop). Nothing here sleeps for a cron
tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created

import django_durable as durable
from django_durable.models import WorkflowRun, WorkflowSchedule
from django_durable.scheduler import FIRST_BATCH, Scheduler
from tests import workflows

pytestmark = pytest.mark.django_db
COMMITS = pytest.mark.django_db(transaction=True)

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def create(name: str, cron: str = "0 * * * *", **kwargs: Any) -> None:
    durable.create_schedule(
        schedule_name=name, workflow_fn=workflows.scheduled_report, schedule=cron, **kwargs
    )


def burst(count: int, *, at: datetime = T, prefix: str = "burst") -> list[str]:
    """``count`` hourly schedules due at ``at``, which last fired an hour before."""
    durable.apply_schedules(
        [
            {
                "schedule_name": f"{prefix}-{i:03d}",
                "workflow_fn": workflows.scheduled_report,
                "schedule": "0 * * * *",
            }
            for i in range(count)
        ]
    )
    WorkflowSchedule.objects.filter(schedule_name__startswith=f"{prefix}-").update(
        next_fire_at=at, last_fired_at=at - timedelta(hours=1)
    )
    return [f"{prefix}-{i:03d}" for i in range(count)]


def every_second(name: str = "fast", *, at: datetime = T) -> None:
    """A per-second schedule due at ``at``, which last fired a second before."""
    create(name, "* * * * * *")
    WorkflowSchedule.objects.filter(schedule_name=name).update(
        next_fire_at=at, last_fired_at=at - SECOND
    )


def slot_id(name: str, slot: datetime) -> str:
    return f"sched-{name}-{slot.isoformat(timespec='seconds')}"


def fired(prefix: str) -> set[str | None]:
    return set(
        WorkflowRun.objects.filter(schedule_name__startswith=prefix).values_list(
            "schedule_name", flat=True
        )
    )


class Clock:
    """``T``, moved on by ``step`` each time it is read; ``on_read(n)`` runs at the n-th
    read (between two batches of a tick, after the first)."""

    def __init__(self, step: timedelta = timedelta(0), on_read: Callable[[int], None] = print):
        self.now, self.step, self.reads, self.on_read = T, step, 0, on_read

    def __call__(self) -> datetime:
        self.reads += 1
        self.on_read(self.reads)
        current = self.now
        self.now += self.step
        return current


# ---------------------------------------------------------------- batches


def test_a_burst_fires_in_batches_that_grow_up_to_the_batch_size():
    names = burst(100)
    # No time target: the sizes depend on the batch size alone.
    scheduler = Scheduler(grace=60, batch_size=40, batch_seconds=3600)

    assert scheduler.tick(T + SECOND) == 100

    assert fired("burst-") == set(names)
    # 16, then at most 4 times the last size and never more than 40: 16 + 40 + 40 + 4.
    assert scheduler.batches == 4
    moved = WorkflowSchedule.objects.filter(schedule_name__startswith="burst-")
    assert set(moved.values_list("next_fire_at", "last_fired_at")) == {(T + timedelta(hours=1), T)}


def test_among_schedules_due_at_one_instant_the_most_frequent_fires_first():
    burst(3 * FIRST_BATCH)
    every_second("fast")
    scheduler: Scheduler

    def stop_after_the_first_batch(reads: int) -> None:
        if reads == 2:
            scheduler.stop()

    scheduler = Scheduler(
        grace=60, batch_size=FIRST_BATCH, clock=Clock(on_read=stop_after_the_first_batch)
    )
    assert scheduler.tick() == FIRST_BATCH

    # All due at T; the per-second schedule (fired a second ago, the others an hour ago)
    # went in the first batch.
    assert WorkflowRun.objects.filter(pk=slot_id("fast", T)).exists()
    assert len(fired("burst-")) == FIRST_BATCH - 1


def test_what_comes_due_during_a_burst_fires_before_the_rest_of_the_burst():
    burst(2 * FIRST_BATCH - 1)
    every_second("fast")
    clock = Clock(step=SECOND)

    Scheduler(grace=60, batch_size=FIRST_BATCH, clock=clock).tick()

    # The clock is read at T (the tick's start), then between batches: at T+1 s after the
    # first batch (the per-second schedule and 15 others), at T+2 s after the second (16
    # others). Each time, the per-second slot that came due fired before the next batch.
    assert fired("burst-") == {f"burst-{i:03d}" for i in range(2 * FIRST_BATCH - 1)}
    fast = {
        run.workflow_id: run.created_at for run in WorkflowRun.objects.filter(schedule_name="fast")
    }
    assert sorted(fast) == [slot_id("fast", T + n * SECOND) for n in range(3)]
    runs = WorkflowRun.objects.filter(schedule_name__startswith="burst-")
    before_second = runs.filter(created_at__lt=fast[slot_id("fast", T + SECOND)]).count()
    before_third = runs.filter(created_at__lt=fast[slot_id("fast", T + 2 * SECOND)]).count()
    assert (before_second, before_third) == (FIRST_BATCH - 1, 2 * FIRST_BATCH - 1)


def test_a_stop_request_ends_the_tick_after_the_batch_in_progress():
    burst(3 * FIRST_BATCH)
    scheduler: Scheduler

    def stop_after_the_first_batch(reads: int) -> None:
        if reads == 2:  # the first read is the tick's start
            scheduler.stop()

    scheduler = Scheduler(
        grace=60, batch_size=FIRST_BATCH, clock=Clock(on_read=stop_after_the_first_batch)
    )

    assert scheduler.tick() == FIRST_BATCH

    assert len(fired("burst-")) == FIRST_BATCH
    assert WorkflowSchedule.objects.filter(next_fire_at=T).count() == 2 * FIRST_BATCH


def test_batch_settings_are_checked():
    with pytest.raises(durable.ConfigurationError, match="batch_size"):
        Scheduler(batch_size=0)
    with pytest.raises(durable.ConfigurationError, match="batch_seconds"):
        Scheduler(batch_seconds=0)


# ---------------------------------------------------------------- rows that cannot fire


def store_context_text(name: str, text: str) -> None:
    """Write a context as raw JSON text, past every validation."""
    q = connection.ops.quote_name
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {q(WorkflowSchedule._meta.db_table)} SET {q('context')} = %s{cast} "  # noqa: S608
            f"WHERE {q('schedule_name')} = %s",
            [text, name],
        )


def skipped(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "django_durable.scheduler"
        and f"Schedule {name} cannot fire" in r.getMessage()
    ]


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda name: store_context_text(name, '{"n": ' + "9" * 5000 + "}"), "ValueError"),
        (
            lambda name: WorkflowSchedule.objects.filter(schedule_name=name).update(
                schedule="0 0 30 2 *"
            ),
            "never fires",
        ),
        (
            lambda name: WorkflowSchedule.objects.filter(schedule_name=name).update(
                cron_timezone="Mars/Olympus_Mons"
            ),
            "Mars/Olympus_Mons",
        ),
    ],
    ids=["unreadable-context", "cron-never-fires", "unknown-timezone"],
)
def test_a_row_that_cannot_fire_is_skipped_once_logged_and_the_batch_fires(caplog, spoil, says):
    names = burst(5)
    spoil("burst-002")
    scheduler = Scheduler(grace=60)

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert scheduler.tick(T + SECOND) == 4
        assert scheduler.tick(T + 2 * SECOND) == 0  # skipped, not retried, not logged again

    assert fired("burst-") == set(names) - {"burst-002"}
    rows = WorkflowSchedule.objects.filter(schedule_name="burst-002")
    assert rows.values_list("next_fire_at", flat=True).get() == T
    [message] = skipped(caplog, "burst-002")
    assert says in message


def test_a_skipped_row_is_retried_once_it_changes(caplog):
    burst(2)
    WorkflowSchedule.objects.filter(schedule_name="burst-001").update(schedule="0 0 30 2 *")
    scheduler = Scheduler(grace=60)
    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert scheduler.tick(T + SECOND) == 1

        # Repaired behind the scheduler's back (updated_at unchanged): still skipped.
        WorkflowSchedule.objects.filter(schedule_name="burst-001").update(schedule="0 * * * *")
        assert scheduler.tick(T + 2 * SECOND) == 0

        # Any write of the row through the API or the admin moves updated_at.
        WorkflowSchedule.objects.filter(schedule_name="burst-001").update(updated_at=T)
        assert scheduler.tick(T + 3 * SECOND) == 1

    assert fired("burst-") == {"burst-000", "burst-001"}
    assert len(skipped(caplog, "burst-001")) == 1


def test_a_skipped_row_is_retried_at_the_next_review(caplog):
    burst(2)
    WorkflowSchedule.objects.filter(schedule_name="burst-001").update(cron_timezone="No/Where")
    scheduler = Scheduler(grace=60)
    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert scheduler.tick(T + SECOND) == 1
        WorkflowSchedule.objects.filter(schedule_name="burst-001").update(cron_timezone=None)
        assert scheduler.tick(T + 2 * SECOND) == 0

        scheduler._next_review = 0.0  # a minute later
        assert scheduler.tick(T + 3 * SECOND) == 1

    assert fired("burst-") == {"burst-000", "burst-001"}
    assert len(skipped(caplog, "burst-001")) == 1


@pytest.fixture
def refuse_runs_of() -> Iterator[Callable[[str], None]]:
    """Make the database refuse the INSERT of any run of one schedule (a trigger), as a
    data error would."""

    def install(name: str) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION durable_test_refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.schedule_name = '{name}' THEN "
                    "RAISE EXCEPTION 'refused by the test' USING ERRCODE = '22000'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    "CREATE TRIGGER durable_test_refuse BEFORE INSERT ON "
                    "django_durable_workflowrun FOR EACH ROW EXECUTE FUNCTION "
                    "durable_test_refuse()"
                )
            else:
                cursor.execute(
                    "CREATE TRIGGER durable_test_refuse BEFORE INSERT ON "
                    f"django_durable_workflowrun WHEN NEW.schedule_name = '{name}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )

    yield install
    # The test's transaction rolls the trigger back with everything else.


def test_a_batch_the_database_refuses_is_fired_one_by_one_skipping_the_row_at_fault(
    caplog, refuse_runs_of
):
    names = burst(6)
    refuse_runs_of("burst-003")
    scheduler = Scheduler(grace=60)

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert scheduler.tick(T + SECOND) == 5
        assert scheduler.tick(T + 2 * SECOND) == 0

    assert fired("burst-") == set(names) - {"burst-003"}
    assert WorkflowSchedule.objects.get(schedule_name="burst-003").next_fire_at == T
    [message] = skipped(caplog, "burst-003")
    assert "refused by the test" in message


@pytest.mark.parametrize("spoil", ["cron", "context"])
def test_a_row_without_a_next_fire_time_that_cannot_fire_is_logged_once(caplog, spoil):
    WorkflowSchedule.objects.create(
        schedule_name="raw",
        workflow_name="scheduled_report",
        schedule="0 0 30 2 *" if spoil == "cron" else "0 * * * *",
    )
    if spoil == "context":  # unreadable: the review must not load it
        store_context_text("raw", '{"n": ' + "9" * 5000 + "}")
        WorkflowSchedule.objects.filter(schedule_name="raw").update(schedule="0 0 30 2 *")
    create("healthy", "* * * * * *")
    WorkflowSchedule.objects.filter(schedule_name="healthy").update(next_fire_at=T)
    scheduler = Scheduler(grace=60)

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert scheduler.tick(T) == 1
        scheduler._next_review = 0.0  # the next review meets it again
        assert scheduler.tick(T + SECOND) == 1

    rows = WorkflowSchedule.objects.filter(schedule_name="raw")
    assert rows.values_list("next_fire_at", flat=True).get() is None
    assert len(skipped(caplog, "raw")) == 1


# ---------------------------------------------------------------- the connection


def stop_after(scheduler_box: list[Scheduler], reads: int) -> Callable[[int], None]:
    def on_read(count: int) -> None:
        if count >= reads:
            scheduler_box[0].stop()

    return on_read


@COMMITS
def test_the_loop_keeps_one_connection_across_ticks_whatever_conn_max_age_says():
    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    every_second("fast")
    box: list[Scheduler] = []
    clock = Clock(step=SECOND, on_read=stop_after(box, 12))
    box.append(Scheduler(poll_interval=0, grace=60, listen=False, clock=clock))
    opened: list[int] = []

    def count(sender: Any, connection: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "scheduler-under-test":
            opened.append(1)

    connection_created.connect(count)
    try:
        thread = threading.Thread(target=box[0].run, name="scheduler-under-test")
        thread.start()
        thread.join(60)
    finally:
        connection_created.disconnect(count)

    assert not thread.is_alive()
    assert WorkflowRun.objects.filter(schedule_name="fast").count() >= 4
    assert opened == [1]


@COMMITS
def test_a_connection_lost_between_ticks_is_reopened_at_once(caplog):
    if connection.vendor != "postgresql":
        pytest.skip("ends the scheduler's PostgreSQL session from another one")
    every_second("fast")
    box: list[Scheduler] = []
    terminated: list[bool] = []

    def on_read(reads: int) -> None:
        if reads == 6:  # some ticks in: end the scheduler's session under it
            pid = connections["default"].connection.info.backend_pid  # this thread's
            other = connections.create_connection("default")
            try:
                with other.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                    terminated.append(cursor.fetchone()[0])
            finally:
                other.close()
        if reads >= 20:
            box[0].stop()

    clock = Clock(step=SECOND, on_read=on_read)
    box.append(Scheduler(poll_interval=0, grace=60, listen=False, clock=clock))
    with caplog.at_level(logging.WARNING, logger="django_durable"):
        thread = threading.Thread(target=box[0].run)
        thread.start()
        thread.join(60)

    assert not thread.is_alive() and terminated == [True]
    assert any("Database unavailable" in r.getMessage() for r in caplog.records)
    slots = sorted(WorkflowRun.objects.filter(schedule_name="fast").values_list("pk", flat=True))
    # Every slot up to the last one fired, those after the lost connection included.
    assert len(slots) >= 8
    assert slots == [slot_id("fast", T + n * SECOND) for n in range(len(slots))]


# ---------------------------------------------------------------- SQLite before 3.35


@pytest.fixture
def without_update_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the path of a database without ``UPDATE ... FROM ... RETURNING`` (SQLite
    before 3.35): one UPDATE per row, in the same transaction."""
    from django_durable.models import bulk, due

    monkeypatch.setattr(bulk, "set_based", lambda connection: False)
    monkeypatch.setattr(due, "set_based", lambda connection: False)


def test_without_update_from_a_tick_fires_and_moves_each_schedule_once(without_update_from):
    names = burst(20)
    every_second("fast")
    scheduler = Scheduler(grace=60)

    assert scheduler.tick(T + SECOND) == 20 + 2
    assert scheduler.tick(T + SECOND) == 0

    assert fired("burst-") == set(names)
    assert set(
        WorkflowSchedule.objects.filter(schedule_name__startswith="burst-").values_list(
            "next_fire_at", "last_fired_at"
        )
    ) == {(T + timedelta(hours=1), T)}
    fast = WorkflowSchedule.objects.get(schedule_name="fast")
    assert (fast.last_fired_at, fast.next_fire_at) == (T + SECOND, T + 2 * SECOND)


def test_without_update_from_a_stale_row_loses_the_compare_and_set(without_update_from):
    from django_durable.schedules import fire

    create("race")
    WorkflowSchedule.objects.filter(schedule_name="race").update(next_fire_at=T)
    mine, theirs = (WorkflowSchedule.objects.get(schedule_name="race") for _ in range(2))

    assert fire.fire(theirs, T, cap=10, grace=timedelta(seconds=60)) == [T]
    assert fire.fire(mine, T, cap=10, grace=timedelta(seconds=60)) is None
    assert WorkflowRun.objects.count() == 1


def test_without_update_from_apply_schedules_updates_changed_rows(without_update_from):
    durable.apply_schedules(
        [
            {
                "schedule_name": f"u{i}",
                "workflow_fn": workflows.scheduled_report,
                "schedule": "0 * * * *",
            }
            for i in range(3)
        ]
    )
    durable.apply_schedules(
        [
            {
                "schedule_name": f"u{i}",
                "workflow_fn": workflows.scheduled_report,
                "schedule": "0 * * * *",
                "context": {"i": i},
            }
            for i in range(3)
        ]
    )
    assert dict(
        WorkflowSchedule.objects.filter(schedule_name__startswith="u").values_list(
            "schedule_name", "context"
        )
    ) == {f"u{i}": {"i": i} for i in range(3)}


@COMMITS
def test_on_postgresql_a_burst_is_fired_on_several_connections_at_once():
    if connection.vendor != "postgresql":
        pytest.skip("batches lock different rows on PostgreSQL only")
    names = burst(300)
    box: list[Scheduler] = []
    clock = Clock(on_read=stop_after(box, 30))
    box.append(Scheduler(poll_interval=0, grace=60, listen=False, clock=clock, batch_size=20))
    opened: list[str] = []

    def count(sender: Any, connection: Any, **kwargs: Any) -> None:
        opened.append(threading.current_thread().name)

    connection_created.connect(count)
    try:
        thread = threading.Thread(target=box[0].run, name="scheduler-under-test")
        thread.start()
        thread.join(60)
    finally:
        connection_created.disconnect(count)

    assert not thread.is_alive()
    assert fired("burst-") == set(names)
    assert WorkflowRun.objects.filter(schedule_name__startswith="burst-").count() == 300
    assert box[0].fired == 300
    # The scheduler's thread and one helper, each with its own connection.
    assert opened.count("scheduler-under-test") == 1
    assert opened.count("durable-scheduler-burst-1") == 1


def test_burst_connections_must_be_at_least_one():
    with pytest.raises(durable.ConfigurationError, match="burst_connections"):
        Scheduler(burst_connections=0)


@COMMITS
def test_a_batch_wakes_the_workers_of_each_queue_it_enqueued_on_once():
    if connection.vendor != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL only")
    import psycopg

    from django_durable.db import NOTIFY_CHANNEL

    burst(5)
    create("queued", "0 * * * *", queue_name="queues-scheduled")
    WorkflowSchedule.objects.filter(schedule_name="queued").update(next_fire_at=T)
    settings = connection.settings_dict
    listener = psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
        autocommit=True,
    )
    try:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        assert Scheduler(grace=60).tick(T + SECOND) == 6
        payloads = sorted(n.payload for n in listener.notifies(timeout=1))
    finally:
        listener.close()
    assert payloads == sorted(["_durable_internal", "queues-scheduled"])
