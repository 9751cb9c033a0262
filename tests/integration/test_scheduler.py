"""The ``Scheduler`` loop on a real database, driven by a fake clock.

Every tick gets its ``now`` explicitly; a schedule is made due by moving its
``next_fire_at`` into the past of that ``now`` with a queryset ``update()``. Nothing here
sleeps for a cron tick. The schedule API itself is tested in ``test_schedules.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_durable as durable
from django_durable import registry, serialization
from django_durable.cron import Cron
from django_durable.exceptions import ConfigurationError
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.scheduler import FIRST_BATCH, Scheduler
from django_durable.schedules import fire, sync_code_schedules
from django_durable.testing import run_until_idle
from tests import workflows

# Most tests tick in the test's own transaction; the ones that execute runs, race threads,
# call Scheduler.run() (which closes connections) or count BEGIN/COMMIT need real commits.
pytestmark = pytest.mark.django_db
COMMITS = pytest.mark.django_db(transaction=True)

INTERNAL = registry.INTERNAL_QUEUE_NAME
NEW_YORK = "America/New_York"
CODE = "code-every-5-minutes"
T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
"""A Monday noon (UTC): the fake clock's reference instant."""


@pytest.fixture(autouse=True)
def _clear_fired() -> Iterator[None]:
    workflows.FIRED.clear()
    yield
    workflows.FIRED.clear()


def create(name: str, cron: str = "* * * * *", fn: Any = None, **kwargs: Any) -> None:
    durable.create_schedule(
        schedule_name=name, workflow_fn=fn or workflows.scheduled_report, schedule=cron, **kwargs
    )


def due_at(name: str, when: datetime) -> None:
    """Put the schedule's next fire at ``when`` (in the past of the tick's ``now``)."""
    assert WorkflowSchedule.objects.filter(schedule_name=name).update(next_fire_at=when) == 1


def row(name: str) -> WorkflowSchedule:
    return WorkflowSchedule.objects.get(schedule_name=name)


def run_ids(name: str) -> list[str]:
    return sorted(WorkflowRun.objects.filter(schedule_name=name).values_list("pk", flat=True))


def slot_id(name: str, slot: datetime) -> str:
    return f"sched-{name}-{slot.astimezone(UTC).isoformat(timespec='seconds')}"


def run_args(workflow_id: str) -> list[Any]:
    return serialization.loads(WorkflowRun.objects.get(pk=workflow_id).inputs)["args"]


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


# ---------------------------------------------------------------- firing


def test_a_due_schedule_fires_one_run_with_a_deterministic_id():
    create("every-minute", context={"n": 1})
    due_at("every-minute", T)

    assert Scheduler(grace=60).tick(T + timedelta(seconds=10)) == 1

    [run_id] = run_ids("every-minute")
    assert run_id == "sched-every-minute-2026-03-02T12:00:00+00:00"
    run = WorkflowRun.objects.get(pk=run_id)
    assert (run.status, run.name, run.class_name, run.queue_name, run.schedule_name) == (
        RunStatus.ENQUEUED,
        "scheduled_report",
        None,
        INTERNAL,
        "every-minute",
    )
    assert run_args(run_id) == [T, {"n": 1}]
    stored = row("every-minute")
    assert (stored.last_fired_at, stored.next_fire_at) == (T, T + minutes(1))
    got = durable.get_schedule("every-minute")
    assert (got["last_fired_at"], got["next_fire_at"]) == (
        "2026-03-02T12:00:00+00:00",
        "2026-03-02T12:01:00+00:00",
    )


def test_a_schedule_fires_on_its_queue_with_scheduled_at_in_its_timezone():
    create("ny", "0 9 * * *", cron_timezone=NEW_YORK, queue_name="queues-scheduled")
    slot = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo(NEW_YORK))  # 14:00 UTC (EST)
    due_at("ny", slot)

    assert Scheduler(grace=60).tick(slot) == 1

    run_id = "sched-ny-2026-03-02T14:00:00+00:00"
    assert run_ids("ny") == [run_id]
    assert WorkflowRun.objects.get(pk=run_id).queue_name == "queues-scheduled"
    scheduled_at, context = run_args(run_id)
    assert scheduled_at == slot and context is None
    assert scheduled_at.tzinfo.key == NEW_YORK and scheduled_at.hour == 9
    got = durable.get_schedule("ny")
    assert (got["last_fired_at"], got["next_fire_at"]) == (
        "2026-03-02T09:00:00-05:00",
        "2026-03-03T09:00:00-05:00",
    )


def test_every_slot_due_within_grace_fires_once_in_order():
    create("ten-seconds", "*/10 * * * * *")
    due_at("ten-seconds", T)

    assert Scheduler(grace=60).tick(T + timedelta(seconds=25)) == 3

    assert run_ids("ten-seconds") == [
        slot_id("ten-seconds", T + timedelta(seconds=s)) for s in (0, 10, 20)
    ]
    stored = row("ten-seconds")
    assert (stored.last_fired_at, stored.next_fire_at) == (
        T + timedelta(seconds=20),
        T + timedelta(seconds=30),
    )


def test_a_schedule_not_yet_due_does_not_fire():
    create("later")
    due_at("later", T + timedelta(seconds=1))
    assert Scheduler(grace=60).tick(T) == 0
    assert WorkflowRun.objects.count() == 0
    assert row("later").next_fire_at == T + timedelta(seconds=1)


def test_a_slot_due_exactly_now_fires():
    create("exact")
    due_at("exact", T)
    assert Scheduler(grace=0).tick(T) == 1
    assert run_ids("exact") == [slot_id("exact", T)]


def test_a_second_tick_at_the_same_now_fires_nothing():
    create("twice", context={"k": 1})
    due_at("twice", T)
    scheduler = Scheduler(grace=60)
    assert scheduler.tick(T) == 1
    after_first = durable.get_schedule("twice")

    assert scheduler.tick(T) == 0
    assert Scheduler(grace=60).tick(T) == 0

    assert run_ids("twice") == [slot_id("twice", T)]
    assert durable.get_schedule("twice") == after_first
    assert scheduler.fired == 1


def test_two_schedulers_ticking_the_same_now_fire_each_slot_once():
    create("a", "*/10 * * * * *")
    create("b", "0 * * * *")
    due_at("a", T - timedelta(seconds=20))
    due_at("b", T)

    first, second = Scheduler(grace=60), Scheduler(grace=60)
    assert first.tick(T) + second.tick(T) == 4

    assert run_ids("a") == [slot_id("a", T - timedelta(seconds=s)) for s in (20, 10, 0)]
    assert run_ids("b") == [slot_id("b", T)]
    assert (first.fired, second.fired) == (4, 0)


def test_a_scheduler_holding_a_stale_row_loses_the_compare_and_set():
    create("race")
    due_at("race", T)
    mine, theirs = row("race"), row("race")  # both schedulers selected the due row

    assert fire.fire(theirs, T, cap=10, grace=timedelta(seconds=60)) == [T]
    assert fire.fire(mine, T, cap=10, grace=timedelta(seconds=60)) is None

    assert run_ids("race") == [slot_id("race", T)]
    assert row("race").next_fire_at == T + minutes(1)


def test_a_schedule_paused_after_it_was_selected_does_not_fire():
    create("paused-meanwhile")
    due_at("paused-meanwhile", T)
    selected = row("paused-meanwhile")
    durable.pause_schedule("paused-meanwhile")

    assert fire.fire(selected, T, cap=10, grace=timedelta(seconds=60)) is None

    assert WorkflowRun.objects.count() == 0
    assert row("paused-meanwhile").next_fire_at == T


@COMMITS
def test_schedulers_racing_on_threads_fire_each_slot_once():
    names = [f"race-{i}" for i in range(4)]
    for name in names:
        create(name, "*/15 * * * * *")
        due_at(name, T - minutes(1))  # 5 slots each: -60, -45, -30, -15, 0 seconds
    barrier = threading.Barrier(4)
    totals: list[int] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            scheduler = Scheduler(grace=120)
            barrier.wait(5)
            totals.append(scheduler.tick(T))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sum(totals) == 20
    assert WorkflowRun.objects.count() == 20
    for name in names:
        assert len(run_ids(name)) == 5
        assert row(name).next_fire_at == T + timedelta(seconds=15)


def test_a_schedule_deleted_after_it_was_selected_does_not_fire():
    create("deleted-meanwhile")
    due_at("deleted-meanwhile", T)
    selected = row("deleted-meanwhile")
    durable.delete_schedule("deleted-meanwhile")

    assert fire.fire(selected, T, cap=10, grace=timedelta(seconds=60)) is None

    assert WorkflowRun.objects.count() == 0


def test_the_scheduler_does_not_duplicate_a_slot_that_was_backfilled_first():
    create("daily", "0 9 * * *", context={"v": 1})
    slot = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    [handle] = durable.backfill_schedule("daily", slot - minutes(1), slot + minutes(1))
    backfilled = WorkflowRun.objects.get(pk=handle.workflow_id)
    due_at("daily", slot)

    Scheduler(grace=60).tick(slot)

    assert run_ids("daily") == [slot_id("daily", slot)] == [handle.workflow_id]
    assert WorkflowRun.objects.get(pk=handle.workflow_id).created_at == backfilled.created_at
    assert (row("daily").last_fired_at, row("daily").next_fire_at) == (
        slot,
        slot + timedelta(days=1),
    )


# ---------------------------------------------------------------- catching up


def test_automatic_backfill_enqueues_every_missed_slot():
    create("hourly", "0 * * * *", automatic_backfill=True, context={"b": True})
    due_at("hourly", T - timedelta(hours=10))

    assert Scheduler(grace=60, max_backfill=1000).tick(T + minutes(5)) == 11

    assert run_ids("hourly") == sorted(
        slot_id("hourly", T - timedelta(hours=h)) for h in range(11)
    )
    stored = row("hourly")
    assert (stored.last_fired_at, stored.next_fire_at) == (T, T + timedelta(hours=1))


def test_automatic_backfill_is_capped_and_then_moves_to_the_first_slot_after_now(caplog):
    create("hourly", "0 * * * *", automatic_backfill=True)
    due_at("hourly", T - timedelta(hours=10))

    with caplog.at_level(logging.WARNING, logger="django_durable"):
        assert Scheduler(grace=60, max_backfill=4).tick(T + minutes(5)) == 4

    # Exactly the cap, out of the 11 slots due; the schedule moves on to its first slot
    # after now. (Today these are the four oldest: 02:00 to 05:00.)
    ids = run_ids("hourly")
    assert len(ids) == 4
    assert set(ids) <= {slot_id("hourly", T - timedelta(hours=h)) for h in range(11)}
    stored = row("hourly")
    assert stored.next_fire_at == T + timedelta(hours=1)
    assert stored.last_fired_at == max(datetime.fromisoformat(i[-25:]) for i in ids)
    missed = [r for r in caplog.records if "missed" in r.getMessage()]
    assert len(missed) == 1 and "hourly" in missed[0].getMessage()
    assert missed[0].levelno == logging.WARNING


def test_a_slot_within_grace_fires_without_automatic_backfill_after_a_long_downtime():
    create("hourly", "0 * * * *")
    due_at("hourly", T - timedelta(hours=10))
    assert Scheduler(grace=60, max_backfill=4).tick(T + timedelta(seconds=10)) == 1
    assert run_ids("hourly") == [slot_id("hourly", T)]


def test_the_backfill_cap_never_drops_the_slot_that_is_on_time():
    create("hourly", "0 * * * *", automatic_backfill=True)
    due_at("hourly", T - timedelta(hours=10))

    assert Scheduler(grace=60, max_backfill=4).tick(T + timedelta(seconds=10)) == 4

    assert slot_id("hourly", T) in run_ids("hourly")
    assert row("hourly").last_fired_at == T


def test_the_cap_defaults_to_the_max_backfill_setting(settings):
    settings.DURABLE = {"MAX_BACKFILL": 2}
    create("hourly", "0 * * * *", automatic_backfill=True)
    due_at("hourly", T - timedelta(hours=5))
    scheduler = Scheduler(grace=60)
    assert scheduler.max_backfill == 2
    assert scheduler.tick(T) == 2


def test_without_automatic_backfill_slots_older_than_grace_are_skipped(caplog):
    create("every-minute")
    due_at("every-minute", T - timedelta(hours=2))

    with caplog.at_level(logging.WARNING, logger="django_durable"):
        # Slots within 150 s of now still fire: 11:58, 11:59 and 12:00.
        assert Scheduler(grace=150).tick(T) == 3

    assert run_ids("every-minute") == sorted(
        slot_id("every-minute", T - minutes(m)) for m in (2, 1, 0)
    )
    assert row("every-minute").next_fire_at == T + minutes(1)
    assert any("every-minute" in r.getMessage() for r in caplog.records)


def test_without_automatic_backfill_a_fully_missed_schedule_fires_nothing_and_moves_on():
    create("hourly", "0 * * * *")
    due_at("hourly", T - timedelta(days=3))

    assert Scheduler(grace=10).tick(T + minutes(30)) == 0

    assert WorkflowRun.objects.count() == 0
    stored = row("hourly")
    assert (stored.next_fire_at, stored.last_fired_at) == (T + timedelta(hours=1), None)


def test_the_default_grace_is_twice_the_poll_interval():
    create("every-second", "* * * * * *")
    due_at("every-second", T - minutes(1))

    assert Scheduler(poll_interval=5).tick(T) == 10  # slots in (now - 10 s, now]

    assert run_ids("every-second")[0] == slot_id("every-second", T - timedelta(seconds=9))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_backfill": 0}, "MAX_BACKFILL"),
        ({"max_backfill": True}, "MAX_BACKFILL"),
        ({"grace": -1}, "grace"),
        ({"poll_interval": -1}, "poll_interval"),
    ],
)
def test_bad_scheduler_settings_are_configuration_errors(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        Scheduler(**kwargs)


# ---------------------------------------------------------------- DST (fires through a tick)
# US DST in 2026: spring forward on Sunday 8 March (02:00 EST -> 03:00 EDT), fall back on
# Sunday 1 November (02:00 EDT -> 01:00 EST). Ids are UTC; the schedule catches up with
# automatic backfill so every slot of the three days is enqueued by one tick.


@pytest.mark.parametrize(
    ("cron", "since", "until", "expected"),
    [
        pytest.param(
            "30 2 * * *",  # 02:30 does not exist on 8 March: it fires at 03:30 EDT
            datetime(2026, 3, 7, tzinfo=UTC),
            datetime(2026, 3, 10, tzinfo=UTC),
            {
                "2026-03-07T07:30:00": "03-07 02:30 -0500",
                "2026-03-08T07:30:00": "03-08 03:30 -0400",
                "2026-03-09T06:30:00": "03-09 02:30 -0400",
            },
            id="spring-gap",
        ),
        pytest.param(
            "30 1 * * *",  # 01:30 happens twice on 1 November: it fires at the first
            datetime(2026, 10, 31, tzinfo=UTC),
            datetime(2026, 11, 3, tzinfo=UTC),
            {
                "2026-10-31T05:30:00": "10-31 01:30 -0400",
                "2026-11-01T05:30:00": "11-01 01:30 -0400",
                "2026-11-02T06:30:00": "11-02 01:30 -0500",
            },
            id="autumn-repeat",
        ),
        pytest.param(
            "0 * * * *",  # a wildcard hour follows real time through both passes
            datetime(2026, 11, 1, 4, 30, tzinfo=UTC),
            datetime(2026, 11, 1, 8, 30, tzinfo=UTC),
            {
                "2026-11-01T05:00:00": "11-01 01:00 -0400",
                "2026-11-01T06:00:00": "11-01 01:00 -0500",
                "2026-11-01T07:00:00": "11-01 02:00 -0500",
                "2026-11-01T08:00:00": "11-01 03:00 -0500",
            },
            id="autumn-hourly",
        ),
    ],
)
def test_dst_transitions_fire_each_slot_once_with_utc_ids(cron, since, until, expected):
    create("ny-dst", cron, cron_timezone=NEW_YORK, automatic_backfill=True)
    due_at("ny-dst", Cron.parse(cron, NEW_YORK).next_after(since))

    assert Scheduler(grace=60).tick(until) == len(expected)

    ids = run_ids("ny-dst")
    assert ids == [f"sched-ny-dst-{stamp}+00:00" for stamp in expected]
    received = [run_args(run_id)[0] for run_id in ids]
    assert {at.tzinfo.key for at in received} == {NEW_YORK}
    assert [at.strftime("%m-%d %H:%M %z") for at in received] == list(expected.values())


# ---------------------------------------------------------------- pause, resume, edit, delete


def test_a_paused_schedule_does_not_fire():
    create("paused", automatic_backfill=True)
    due_at("paused", T - minutes(30))
    durable.pause_schedule("paused")

    assert Scheduler(grace=60).tick(T) == 0

    assert WorkflowRun.objects.count() == 0
    assert (row("paused").status, row("paused").next_fire_at) == ("PAUSED", T - minutes(30))


def test_resume_after_a_long_pause_does_not_backfill_the_paused_time():
    create("resumed", "0 * * * *", automatic_backfill=True)
    durable.pause_schedule("resumed")
    due_at("resumed", timezone.now() - timedelta(days=5))  # paused five days ago
    now = timezone.now()

    assert durable.resume_schedule("resumed") is True

    next_fire_at = row("resumed").next_fire_at
    assert now < next_fire_at <= now + timedelta(hours=1, seconds=5)
    assert (next_fire_at.minute, next_fire_at.second) == (0, 0)
    scheduler = Scheduler(grace=60)
    assert scheduler.tick(now) == 0
    assert scheduler.tick(next_fire_at - timedelta(microseconds=1)) == 0
    assert WorkflowRun.objects.count() == 0
    # From its first slot after the resume on, it fires normally: that slot only.
    assert scheduler.tick(next_fire_at) == 1
    assert run_ids("resumed") == [slot_id("resumed", next_fire_at)]


def test_an_edit_through_apply_schedules_fires_on_the_new_cron():
    def apply(cron: str, fn: Any = workflows.scheduled_report) -> None:
        durable.apply_schedules([{"schedule_name": "edited", "workflow_fn": fn, "schedule": cron}])

    apply("0 0 * * *")
    midnight = row("edited").next_fire_at
    assert (midnight.hour, midnight.minute) == (0, 0)

    apply("30 * * * *")
    half_past = row("edited").next_fire_at
    assert (half_past.minute, half_past.second) == (30, 0)

    assert Scheduler(grace=60).tick(half_past) == 1
    assert run_ids("edited") == [slot_id("edited", half_past)]
    assert row("edited").next_fire_at == half_past + timedelta(hours=1)

    # A new workflow with the same cron keeps the next slot and fires the new workflow.
    apply("30 * * * *", workflows.backup_database)
    following = half_past + timedelta(hours=1)
    assert row("edited").next_fire_at == following
    assert Scheduler(grace=60).tick(following) == 1
    assert WorkflowRun.objects.get(pk=slot_id("edited", following)).name == "backup_database"


def test_a_deleted_schedule_does_not_fire():
    create("deleted")
    due_at("deleted", T)
    assert durable.delete_schedule("deleted") is True

    assert Scheduler(grace=60).tick(T) == 0

    assert WorkflowRun.objects.count() == 0


# ---------------------------------------------------------------- class-based schedules


@COMMITS
def test_static_and_class_method_schedules_fire_and_run():
    create("static", fn=workflows.MyScheduledClass.scheduled_wf, context={"environment": "p"})
    create("classm", fn=workflows.MyScheduledClass.class_wf, context={"kind": "class"})
    due_at("static", T)
    due_at("classm", T)

    assert Scheduler(grace=60).tick(T) == 2
    run_until_idle()

    static = WorkflowRun.objects.get(pk=slot_id("static", T))
    classm = WorkflowRun.objects.get(pk=slot_id("classm", T))
    assert (static.name, static.class_name, static.status) == (
        "MyScheduledClass.scheduled_wf",
        "MyScheduledClass",
        RunStatus.SUCCESS,
    )
    assert (classm.name, classm.class_name, classm.status) == (
        "MyScheduledClass.class_wf",
        "MyScheduledClass",
        RunStatus.SUCCESS,
    )
    assert durable.retrieve_workflow(classm.pk).get_result() == "MyScheduledClass"
    assert sorted(workflows.FIRED, key=lambda item: item[0]) == [
        ("MyScheduledClass.class_wf", T, {"kind": "class"}),
        ("MyScheduledClass.scheduled_wf", T, {"environment": "p"}),
    ]


@COMMITS
def test_fired_runs_execute_with_scheduled_at_and_context():
    create("ny", "0 9 * * *", cron_timezone=NEW_YORK, context={"c": [1, 2]})
    create(
        "async",
        "0 9 * * *",
        fn=workflows.scheduled_async,
        queue_name="queues-scheduled",
        automatic_backfill=True,  # its slot is five hours old
    )
    slot = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    due_at("ny", slot)
    due_at("async", slot - timedelta(hours=5))

    assert Scheduler(grace=60).tick(slot) == 2
    assert run_until_idle() == 2

    by_name = {name: (at, ctx) for name, at, ctx in workflows.FIRED}
    ny_at, ny_context = by_name["scheduled_report"]
    assert (ny_at, ny_at.tzinfo.key, ny_at.hour, ny_context) == (slot, NEW_YORK, 9, {"c": [1, 2]})
    async_at, async_context = by_name["scheduled_async"]
    assert (async_at, async_at.tzinfo.key, async_context) == (
        slot - timedelta(hours=5),
        "UTC",
        None,
    )


# ---------------------------------------------------------------- rows that cannot fire


def insert_row(name: str, **fields: Any) -> WorkflowSchedule:
    values = {
        "workflow_name": "scheduled_report",
        "schedule": "* * * * *",
        "next_fire_at": T,
        **fields,
    }
    return WorkflowSchedule.objects.create(schedule_name=name, **values)


def skipped_messages(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("django_durable")
        and "skipped" in r.getMessage()
        and name in r.getMessage()
    ]


def test_a_schedule_whose_workflow_is_not_registered_is_skipped_and_logged(caplog):
    insert_row("orphan", workflow_name="removed_from_the_code")
    create("alive")
    due_at("alive", T)
    scheduler = Scheduler(grace=60)

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert scheduler.tick(T) == 1
        assert scheduler.tick(T + minutes(1)) == 1  # logged once, still skipped

    assert run_ids("alive") == [slot_id("alive", T), slot_id("alive", T + minutes(1))]
    assert run_ids("orphan") == []
    assert row("orphan").next_fire_at == T
    assert row("orphan").last_fired_at is None
    [record] = skipped_messages(caplog, "orphan")
    assert record.levelno == logging.ERROR
    assert "removed_from_the_code" in record.getMessage()


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"workflow_name": "MyScheduledClass.scheduled_wf", "workflow_class_name": "Wrong"},
            "Wrong",
        ),
        ({"schedule": "not a cron"}, "not a cron"),
        ({"schedule": "* * * * *", "cron_timezone": "Atlantis/Capital"}, "Atlantis/Capital"),
    ],
)
def test_a_schedule_that_cannot_fire_is_skipped_without_stopping_the_others(
    caplog, fields, reason
):
    insert_row("broken", **fields)
    create("alive")
    due_at("alive", T)

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        assert Scheduler(grace=60).tick(T) == 1

    assert run_ids("alive") == [slot_id("alive", T)]
    assert run_ids("broken") == []
    assert row("broken").next_fire_at == T
    [record] = skipped_messages(caplog, "broken")
    assert reason in record.getMessage()


# ---------------------------------------------------------------- code-defined schedules


def code_names() -> list[str]:
    """Names of this process's code-defined schedules (tests/workflows.py declares CODE)."""
    return sorted(entry.schedule_name for entry in registry.code_schedules())


def test_sync_code_schedules_writes_code_defined_schedules_as_rows():
    result = sync_code_schedules(T)

    assert (sorted(result.created), result.updated, result.deleted, result.invalid) == (
        code_names(),
        [],
        [],
        {},
    )
    stored = row(CODE)
    assert (stored.origin, stored.status, stored.workflow_name, stored.workflow_class_name) == (
        "code",
        "ACTIVE",
        "code_scheduled",
        None,
    )
    assert (stored.schedule, stored.context, stored.next_fire_at) == (
        "0 */5 * * * *",
        {"source": "code"},
        T + minutes(5),
    )


def test_sync_code_schedules_again_changes_nothing():
    sync_code_schedules(T)
    before = row(CODE)

    result = sync_code_schedules(T + timedelta(days=1))

    assert (result.created, result.updated, result.deleted) == ([], [], [])
    after = row(CODE)
    assert (after.schedule_id, after.next_fire_at, after.updated_at) == (
        before.schedule_id,
        before.next_fire_at,
        before.updated_at,
    )
    assert WorkflowSchedule.objects.count() == len(code_names())


def test_a_paused_code_schedule_stays_paused_after_a_resync(clean_registry):
    sync_code_schedules(T)
    durable.pause_schedule(CODE)

    assert sync_code_schedules(T).updated == []
    assert row(CODE).status == "PAUSED"

    # A changed definition updates the row but does not un-pause it.
    [key] = [k for k, e in registry._code_schedules.items() if e.schedule_name == CODE]
    entry = registry._code_schedules[key]
    registry._code_schedules[key] = dataclasses.replace(entry, context={"source": "edited"})
    assert sync_code_schedules(T).updated == [CODE]
    assert (row(CODE).status, row(CODE).context) == ("PAUSED", {"source": "edited"})


def test_a_changed_code_cron_moves_next_fire_at_and_an_unchanged_one_keeps_it(clean_registry):
    sync_code_schedules(T)
    [key] = [k for k, e in registry._code_schedules.items() if e.schedule_name == CODE]
    entry = registry._code_schedules[key]

    registry._code_schedules[key] = dataclasses.replace(entry, context={"v": 2})
    sync_code_schedules(T + timedelta(hours=1))
    assert row(CODE).next_fire_at == T + minutes(5)  # same cron: not moved

    registry._code_schedules[key] = dataclasses.replace(entry, schedule="0 0 * * * *")
    later = T + timedelta(hours=1, minutes=1)
    assert sync_code_schedules(later).updated == [CODE]
    assert row(CODE).next_fire_at == T + timedelta(hours=2)


def test_a_code_schedule_whose_decorator_is_gone_is_deleted_on_the_next_sync(clean_registry):
    sync_code_schedules(T)
    create("runtime-kept")
    for key, entry in list(registry._code_schedules.items()):
        if entry.schedule_name == CODE:
            del registry._code_schedules[key]

    result = sync_code_schedules(T)

    assert result.deleted == [CODE]
    assert not WorkflowSchedule.objects.filter(schedule_name=CODE).exists()
    assert sorted(WorkflowSchedule.objects.values_list("schedule_name", flat=True)) == sorted(
        ["runtime-kept", *code_names()]
    )


def test_an_invalid_code_declaration_keeps_its_existing_row(clean_registry, caplog):
    sync_code_schedules(T)
    before = durable.get_schedule(CODE)
    [key] = [k for k, e in registry._code_schedules.items() if e.schedule_name == CODE]
    entry = registry._code_schedules[key]
    registry._code_schedules[key] = dataclasses.replace(entry, queue_name="queues-undeclared")

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        result = sync_code_schedules(T)

    assert (result.created, result.updated, result.deleted) == ([], [], [])
    assert "queues-undeclared" in result.invalid[CODE]
    assert durable.get_schedule(CODE) == before
    assert any("queues-undeclared" in r.getMessage() for r in caplog.records)


def test_a_runtime_schedule_with_a_code_schedules_name_is_kept(caplog):
    create(CODE, "0 9 * * *", context={"runtime": True})

    with caplog.at_level(logging.ERROR, logger="django_durable"):
        result = sync_code_schedules(T)

    assert result.created == [] and CODE in result.invalid
    assert (row(CODE).origin, row(CODE).context) == ("runtime", {"runtime": True})
    assert any(CODE in r.getMessage() for r in caplog.records)


def test_a_code_schedule_fires_like_any_other():
    sync_code_schedules(T)

    assert Scheduler(grace=60).tick(T + minutes(5)) == 1

    run_id = slot_id(CODE, T + minutes(5))
    assert run_ids(CODE) == [run_id]
    assert run_args(run_id) == [T + minutes(5), {"source": "code"}]


@COMMITS
def test_run_once_syncs_code_schedules_and_ticks_once():
    create("due-now", context={"once": True})
    due_at("due-now", T)
    scheduler = Scheduler(once=True, grace=60, clock=lambda: T + timedelta(seconds=30))

    assert scheduler.run() == 1

    assert run_ids("due-now") == [slot_id("due-now", T)]
    assert row(CODE).origin == "code"
    assert row(CODE).next_fire_at == T + minutes(5)  # written at the fake clock's time
    assert run_ids(CODE) == []
    assert row("due-now").next_fire_at == T + minutes(1)


# ---------------------------------------------------------------- statements per tick

# Statements of one tick, by vendor, counted with CaptureQueriesContext (BEGIN and COMMIT
# included). The first tick of a Scheduler also reviews skipped schedules: two SELECTs.
# A batch is one transaction, whatever the number of schedules it fires:
#   BEGIN (BEGIN IMMEDIATE on SQLite); SELECT the due schedules (FOR UPDATE SKIP LOCKED on
#   PostgreSQL); UPDATE them all (one compare-and-set); INSERT all their runs (ON CONFLICT
#   DO NOTHING); on PostgreSQL one SELECT that notifies each queue and turns
#   synchronous_commit off for this transaction; COMMIT
ONE_BATCH = {"sqlite": 5, "postgresql": 6}
"""A tick whose due schedules fit in one batch (and share a queue)."""


@COMMITS
def test_a_tick_with_one_due_schedule_runs_a_fixed_number_of_statements(
    django_assert_num_queries,
):
    for i in range(20):
        create(f"s{i:02d}", "0 * * * *")  # not due
    due_at("s00", T)
    scheduler = Scheduler(grace=60)
    scheduler.tick(T - timedelta(days=1))  # the first tick's review, outside the count

    with django_assert_num_queries(ONE_BATCH[connection.vendor]) as captured:
        assert scheduler.tick(T) == 1

    sql = [q["sql"] for q in captured.captured_queries]
    assert sql[0].startswith("BEGIN") and sql[-1] == "COMMIT", sql
    assert sql[1].startswith("SELECT") and "django_durable_workflowschedule" in sql[1], sql
    if connection.vendor == "postgresql":
        assert "FOR UPDATE SKIP LOCKED" in sql[1], sql
        assert "pg_notify" in sql[4] and "set_config('synchronous_commit', 'off'" in sql[4]
    else:
        assert sql[0] == "BEGIN IMMEDIATE", sql
    assert sql[2].startswith('UPDATE "django_durable_workflowschedule"'), sql
    assert sql[3].startswith("INSERT") and "django_durable_workflowrun" in sql[3], sql
    assert "ON CONFLICT DO NOTHING" in sql[3], sql


@COMMITS
@pytest.mark.parametrize("due_count", [2, FIRST_BATCH - 1])
def test_a_batch_costs_the_same_statements_however_many_schedules_it_fires(due_count):
    for i in range(20):
        create(f"s{i:02d}", "*/30 * * * * *" if i % 2 else "0 * * * *")  # not due
    for i in range(due_count):
        due_at(f"s{i:02d}", T)
    scheduler = Scheduler(grace=60)
    scheduler.tick(T - timedelta(days=1))

    with CaptureQueriesContext(connection) as captured:
        assert scheduler.tick(T) == due_count

    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == ONE_BATCH[connection.vendor], sql
    assert len(run_ids_like("s")) == due_count


@COMMITS
def test_a_tick_with_nothing_due_is_one_select_in_a_short_transaction():
    create("later", "0 * * * *")
    scheduler = Scheduler(grace=60)
    scheduler.tick(T - timedelta(days=1))

    with CaptureQueriesContext(connection) as captured:
        assert scheduler.tick(T - timedelta(hours=1)) == 0

    sql = [q["sql"] for q in captured.captured_queries]
    assert len(sql) == 3 and sql[0].startswith("BEGIN") and sql[2] == "COMMIT", sql


def run_ids_like(prefix: str) -> list[str]:
    return list(
        WorkflowRun.objects.filter(schedule_name__startswith=prefix).values_list("pk", flat=True)
    )


@COMMITS
def test_the_first_tick_of_a_scheduler_adds_two_review_selects(django_assert_num_queries):
    # Active schedules without a next fire time, and due ones of unknown workflows.
    create("one", "0 * * * *")
    due_at("one", T)
    with django_assert_num_queries(ONE_BATCH[connection.vendor] + 2):
        assert Scheduler(grace=60).tick(T) == 1


def test_an_active_schedule_without_a_next_fire_time_is_scheduled_by_the_first_tick():
    WorkflowSchedule.objects.create(
        schedule_name="raw", workflow_name="scheduled_report", schedule="0 * * * *"
    )
    assert Scheduler(grace=60).tick(T) == 0
    assert row("raw").next_fire_at == T + timedelta(hours=1)
    assert Scheduler(grace=60).tick(T + timedelta(hours=1, seconds=1)) == 1
    assert run_ids("raw") == [slot_id("raw", T + timedelta(hours=1))]


def test_a_schedule_on_a_queue_not_declared_here_is_skipped_and_logged(caplog):
    create("on-ghost-queue", "0 * * * *")
    create("fine", "0 * * * *")
    WorkflowSchedule.objects.filter(schedule_name="on-ghost-queue").update(queue_name="ghost")
    due_at("on-ghost-queue", T)
    due_at("fine", T)
    with caplog.at_level("ERROR", logger="django_durable"):
        assert Scheduler(grace=60).tick(T + timedelta(seconds=1)) == 1
    assert run_ids("on-ghost-queue") == []
    assert row("on-ghost-queue").next_fire_at == T  # left for a scheduler that declares it
    assert run_ids("fine") == [slot_id("fine", T)]
    assert any("'ghost'" in r.getMessage() for r in caplog.records)
