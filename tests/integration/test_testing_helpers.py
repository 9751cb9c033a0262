"""django_durable.testing and its pytest plugin: a scheduler clock the test moves,
simulated crashes after a step, and the fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import django_durable as durable
from django_durable.models import RunStatus, StepOutput, WorkflowRun, WorkflowSchedule
from django_durable.testing import (
    SchedulerClock,
    SimulatedCrash,
    crash_after_step,
    recover,
    tick,
)
from tests import workflows
from tests.models import Event

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def create(name: str, cron: str, **kwargs: object) -> None:
    durable.create_schedule(
        schedule_name=name, workflow_fn=workflows.scheduled_report, schedule=cron, **kwargs
    )


def fired(name: str) -> list[str]:
    return sorted(WorkflowRun.objects.filter(schedule_name=name).values_list("pk", flat=True))


# ---------------------------------------------------------------- SchedulerClock


def test_the_clock_fires_every_slot_on_the_way_at_its_own_instant():
    create("clock-15s", "*/15 * * * * *")
    clock = SchedulerClock(T)
    assert clock.place_schedules() >= 1
    assert clock.advance(minutes=1) == 4
    assert clock.now == T + timedelta(minutes=1)
    assert fired("clock-15s") == [
        "sched-clock-15s-2026-03-02T12:00:15+00:00",
        "sched-clock-15s-2026-03-02T12:00:30+00:00",
        "sched-clock-15s-2026-03-02T12:00:45+00:00",
        "sched-clock-15s-2026-03-02T12:01:00+00:00",
    ]
    assert clock.fired >= 4
    # Nothing is missed, so nothing is skipped even without automatic backfill.
    schedule = WorkflowSchedule.objects.get(schedule_name="clock-15s")
    assert schedule.next_fire_at == T + timedelta(minutes=1, seconds=15)


def test_the_clock_follows_the_dst_rules_across_a_spring_transition():
    create("clock-daily-0230", "30 2 * * *", cron_timezone="America/New_York")
    clock = SchedulerClock(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))
    clock.place_schedules()
    clock.advance(days=2)
    local = [
        datetime.fromisoformat(pk.removeprefix("sched-clock-daily-0230-")).astimezone(NEW_YORK)
        for pk in fired("clock-daily-0230")
    ]
    # 2026-03-08 02:30 does not exist in New York: it fires at 03:30 daylight time.
    assert [t.strftime("%m-%d %H:%M %Z") for t in local] == ["03-08 03:30 EDT", "03-09 02:30 EDT"]


def test_the_clock_writes_code_defined_schedules_on_its_first_tick():
    assert not WorkflowSchedule.objects.filter(schedule_name="code-every-5-minutes").exists()
    clock = SchedulerClock(T)
    clock.tick()
    assert WorkflowSchedule.objects.filter(schedule_name="code-every-5-minutes").exists()


def test_the_clock_is_what_a_scheduler_reads():
    clock = SchedulerClock(T)
    assert clock() == T
    clock.advance(seconds=30)
    assert clock() == T + timedelta(seconds=30)
    assert "2026-03-02T12:00:30" in repr(clock)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.advance(seconds=-1), "only moves forward"),
        (lambda c: c.advance_to(T - timedelta(seconds=1)), "only moves forward"),
        (lambda c: c.advance_to(datetime(2026, 3, 3)), "aware"),
    ],
)
def test_the_clock_refuses_to_go_back_or_take_naive_times(call, message):
    clock = SchedulerClock(T)
    with pytest.raises(ValueError, match=message):
        call(clock)
    assert clock.now == T


def test_the_clock_refuses_a_naive_start():
    with pytest.raises(ValueError, match="aware"):
        SchedulerClock(datetime(2026, 3, 2, 12, 0))


def test_tick_fires_what_is_due_at_now():
    create("tick-every-minute", "* * * * *")
    WorkflowSchedule.objects.filter(schedule_name="tick-every-minute").update(next_fire_at=T)
    assert tick(T + timedelta(seconds=0.5)) == 1
    assert fired("tick-every-minute") == ["sched-tick-every-minute-2026-03-02T12:00:00+00:00"]
    assert tick(T + timedelta(seconds=0.5)) == 0


# ---------------------------------------------------------------- simulated crashes


def test_a_crash_after_step_two_leaves_two_steps_and_recover_runs_only_the_third():
    with crash_after_step(2) as point, pytest.raises(SimulatedCrash, match="after step 2"):
        with durable.SetWorkflowID("crash-helper"):
            workflows.crash_workflow("helper")
    assert point.workflow_id == "crash-helper"
    run = WorkflowRun.objects.get(pk="crash-helper")
    assert run.status == RunStatus.PENDING
    assert list(StepOutput.objects.filter(run=run).values_list("step_number", flat=True)) == [1, 2]
    assert recover("crash-helper") == 6
    assert WorkflowRun.objects.get(pk="crash-helper").status == RunStatus.SUCCESS
    # Each step's effect happened once in total.
    assert sorted(Event.objects.filter(label="helper").values_list("value", flat=True)) == [
        1,
        2,
        3,
    ]


def test_a_crash_inside_a_transaction_step_happens_after_its_commit():
    with crash_after_step(1) as point, pytest.raises(SimulatedCrash):
        workflows.transaction_workflow("tx-crash")
    assert Event.objects.filter(label="tx-crash").count() == 1
    assert recover(str(point.workflow_id)) == 3
    assert Event.objects.filter(label="tx-crash").count() == 2


def test_only_the_named_workflow_crashes_and_only_once():
    with crash_after_step(2, workflow=workflows.crash_workflow) as point:
        assert workflows.three_steps(1) == "value=4"  # another workflow: untouched
        with pytest.raises(SimulatedCrash):
            workflows.crash_workflow("named")
        assert workflows.crash_workflow("again") == 6  # the first match only
    assert point.workflow == "crash_workflow"
    assert WorkflowRun.objects.get(pk=point.workflow_id).status == RunStatus.PENDING


def test_the_workflows_own_except_exception_does_not_swallow_the_crash():
    with crash_after_step(1), pytest.raises(SimulatedCrash):
        workflows.catches_step_error(0)  # its step raises; the crash comes after its record
    assert WorkflowRun.objects.get().status == RunStatus.PENDING


@pytest.mark.parametrize("step", [0, -1, 1.5, True, "2"])
def test_crash_after_step_needs_a_positive_step_number(step):
    with pytest.raises(ValueError, match="step must be an int"), crash_after_step(step):
        pass


# ---------------------------------------------------------------- the pytest plugin


def test_the_plugin_gives_a_clock_at_the_current_time(durable_clock):
    assert isinstance(durable_clock, SchedulerClock)
    assert abs(durable_clock.now - datetime.now(UTC)) < timedelta(minutes=1)
    create("plugin-every-minute", "* * * * *")
    durable_clock.place_schedules()  # a minute may have begun since the clock was made
    assert durable_clock.advance(minutes=3) >= 3  # with the code-defined schedules' slots
    assert len(fired("plugin-every-minute")) == 3


def test_the_plugin_gives_crash_after_step(durable_crash_after_step):
    assert durable_crash_after_step is crash_after_step


@pytest.mark.django_db(transaction=True)
def test_the_plugin_gives_run_until_idle(durable_run_until_idle):
    handle = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 2)
    assert durable_run_until_idle(queues=["queues-plain"]) == 1
    assert handle.get_result() == "value=6"
