"""The schedule API on a real database: create, list, get, pause, resume, delete, trigger,
backfill and apply, with the seeds' examples (``DBOS.`` replaced by ``durable.``).

The workflows are in ``tests/workflows.py`` (section "schedules"): each scheduled workflow
appends ``(workflow, scheduled_at, context)`` to ``workflows.FIRED`` when it runs. The
scheduler loop itself (``Scheduler.tick``) is tested in ``test_scheduler.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_durable as durable
from django_durable import registry, serialization
from django_durable.cron import Cron
from django_durable.exceptions import (
    DurableError,
    InvalidScheduleError,
    ScheduleConflict,
    ScheduleNotFound,
)
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.scheduler import Scheduler
from django_durable.schedules import sync_code_schedules
from django_durable.testing import run_until_idle
from tests import workflows

# Most tests only write through the API and roll back; the tests that execute runs (on
# worker threads with their own connections) need real commits: they are marked EXECUTES.
pytestmark = pytest.mark.django_db
EXECUTES = pytest.mark.django_db(transaction=True)

INTERNAL = registry.INTERNAL_QUEUE_NAME
KEYS = {
    "schedule_id",
    "schedule_name",
    "workflow_name",
    "workflow_class_name",
    "schedule",
    "status",
    "context",
    "last_fired_at",
    "automatic_backfill",
    "cron_timezone",
    "queue_name",
    "next_fire_at",
}
NEW_YORK = "America/New_York"


@pytest.fixture(autouse=True)
def _clear_fired() -> Iterator[None]:
    workflows.FIRED.clear()
    yield
    workflows.FIRED.clear()


def create(name: str = "daily", fn: Any = None, cron: str = "0 9 * * *", **kwargs: Any) -> dict:
    return durable.create_schedule(
        schedule_name=name,
        workflow_fn=fn or workflows.scheduled_report,
        schedule=cron,
        **kwargs,
    )


def row(name: str) -> WorkflowSchedule:
    return WorkflowSchedule.objects.get(schedule_name=name)


def parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


def run_args(workflow_id: str) -> list[Any]:
    """The stored positional inputs of a run."""
    return serialization.loads(WorkflowRun.objects.get(pk=workflow_id).inputs)["args"]


def run_ids(name: str) -> list[str]:
    return sorted(WorkflowRun.objects.filter(schedule_name=name).values_list("pk", flat=True))


def assert_first_slot_after(value: datetime | None, cron: Cron, before: datetime) -> None:
    """``value`` is the first slot after some instant between ``before`` and now."""
    after = timezone.now()
    assert value is not None
    assert before < value
    assert value in (cron.next_after(before), cron.next_after(after)), (value, before, after)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------ create_schedule


def test_create_schedule_stores_the_row_and_returns_its_dict():
    before = timezone.now()
    created = create(
        "nightly-backup",
        workflows.backup_database,
        "0 0 2 * * *",
        context={"backup_name": "production"},
    )

    stored = row("nightly-backup")
    assert (stored.workflow_name, stored.workflow_class_name, stored.schedule) == (
        "backup_database",
        None,
        "0 0 2 * * *",
    )
    assert (stored.status, stored.origin, stored.context) == (
        "ACTIVE",
        "runtime",
        {"backup_name": "production"},
    )
    assert (stored.automatic_backfill, stored.cron_timezone, stored.queue_name) == (
        False,
        None,
        None,
    )
    assert stored.last_fired_at is None
    assert_first_slot_after(stored.next_fire_at, Cron.parse("0 0 2 * * *"), before)
    assert created == durable.get_schedule("nightly-backup")
    assert created == {
        "schedule_id": str(stored.schedule_id),
        "schedule_name": "nightly-backup",
        "workflow_name": "backup_database",
        "workflow_class_name": None,
        "schedule": "0 0 2 * * *",
        "status": "ACTIVE",
        "context": {"backup_name": "production"},
        "last_fired_at": None,
        "automatic_backfill": False,
        "cron_timezone": None,
        "queue_name": None,
        "next_fire_at": stored.next_fire_at.isoformat(),
    }


def test_the_schedule_dict_has_exactly_the_dbos_keys_with_plain_values():
    create(
        "full",
        cron="*/15 * * * *",
        context=[1, "two", {"three": None}],
        automatic_backfill=True,
        cron_timezone=NEW_YORK,
        queue_name=workflows.QUEUE_SCHEDULED.name,
    )

    got = durable.get_schedule("full")

    assert set(got) == KEYS
    assert type(got["status"]) is str and got["status"] == "ACTIVE"
    assert type(got["schedule_id"]) is str
    assert got["context"] == [1, "two", {"three": None}]
    assert (got["automatic_backfill"], got["cron_timezone"], got["queue_name"]) == (
        True,
        NEW_YORK,
        "queues-scheduled",
    )
    assert got["last_fired_at"] is None
    next_fire_at = parse(got["next_fire_at"])
    assert next_fire_at == row("full").next_fire_at
    # In the schedule's timezone, not UTC.
    assert next_fire_at.utcoffset() == next_fire_at.astimezone(ZoneInfo(NEW_YORK)).utcoffset()
    assert next_fire_at.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    assert next_fire_at.minute % 15 == 0 and next_fire_at.second == 0


def test_next_fire_at_is_the_first_slot_after_now_in_the_schedule_timezone():
    before = timezone.now()
    create("ny-morning", cron="0 9 * * *", cron_timezone=NEW_YORK)

    cron = Cron.parse("0 9 * * *", NEW_YORK)
    assert_first_slot_after(row("ny-morning").next_fire_at, cron, before)
    local = parse(durable.get_schedule("ny-morning")["next_fire_at"])
    assert (local.hour, local.minute) == (9, 0)


def test_the_seeds_static_method_example():
    durable.create_schedule(
        schedule_name="static-class-schedule",
        workflow_fn=workflows.MyScheduledClass.scheduled_wf,
        schedule="* * * * * *",  # Every second
        context={"environment": "production"},
    )

    sched = durable.get_schedule("static-class-schedule")
    assert sched["workflow_class_name"] == "MyScheduledClass"
    assert sched["context"] == {"environment": "production"}
    assert sched["workflow_name"] == "MyScheduledClass.scheduled_wf"


def test_a_class_method_records_its_class_and_a_function_records_none():
    create("class-method", workflows.MyScheduledClass.class_wf)
    create("function", workflows.backup_database)

    assert durable.get_schedule("class-method")["workflow_class_name"] == "MyScheduledClass"
    assert durable.get_schedule("class-method")["workflow_name"] == "MyScheduledClass.class_wf"
    assert durable.get_schedule("function")["workflow_class_name"] is None


def test_the_seeds_data_sync_example_with_timezone_and_backfill():
    durable.create_schedule(
        schedule_name="data-sync-schedule",
        workflow_fn=workflows.MyScheduledClass.scheduled_wf,
        schedule="0 9 * * 1-5",  # 9 AM weekdays
        context={"env": "production", "priority": "high"},
        cron_timezone=NEW_YORK,
        automatic_backfill=True,
    )

    sched = durable.get_schedule("data-sync-schedule")
    assert (sched["cron_timezone"], sched["automatic_backfill"]) == (NEW_YORK, True)
    local = parse(sched["next_fire_at"])
    assert (local.hour, local.minute, local.weekday() < 5) == (9, 0, True)


def test_a_renamed_durable_class_records_its_registered_name(clean_registry):
    @durable.durable_class(class_name="Reports")
    class LocalReports:
        @staticmethod
        @durable.workflow()
        def nightly(scheduled_at: datetime, context: Any) -> None:
            pass

    created = create("renamed", LocalReports.nightly, "@daily")

    assert (created["workflow_name"], created["workflow_class_name"]) == (
        "Reports.nightly",
        "Reports",
    )
    assert created["schedule"] == "@daily"
    assert parse(created["next_fire_at"]).time().isoformat() == "00:00:00"


def test_a_200_character_name_is_accepted_and_its_trigger_id_fits():
    name = "n" * 200
    create(name)

    handle = durable.trigger_schedule(name)

    assert len(handle.workflow_id) <= 255
    assert WorkflowRun.objects.get(pk=handle.workflow_id).schedule_name == name


# ---------------------------------------------------------------- create: bad input


def assert_rejected(exc_type: type[Exception], **kwargs: Any) -> Exception:
    """``create_schedule(**kwargs)`` raises ``exc_type`` and writes no schedule and no run."""
    schedules, runs = WorkflowSchedule.objects.count(), WorkflowRun.objects.count()
    arguments = {"schedule_name": "bad", "workflow_fn": workflows.scheduled_report}
    arguments.update(schedule="0 9 * * *")
    arguments.update(kwargs)
    with pytest.raises(exc_type) as caught:
        durable.create_schedule(**arguments)
    assert WorkflowSchedule.objects.count() == schedules
    assert WorkflowRun.objects.count() == runs
    assert isinstance(caught.value, DurableError)
    return caught.value


@pytest.mark.parametrize(
    "cron",
    ["not a cron", "61 * * * *", "* * * *", "* * * * * * *", "0 25 * * *", "", "H * * * *"],
)
def test_an_invalid_cron_is_rejected_naming_it(cron):
    error = assert_rejected(InvalidScheduleError, schedule=cron)
    assert isinstance(error, ValueError)
    assert error.field == "schedule"
    assert repr(cron) in str(error)


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "", " UTC", "EST5EDT/Nope"])
def test_an_unknown_timezone_is_rejected_naming_it(tz):
    error = assert_rejected(InvalidScheduleError, cron_timezone=tz)
    assert error.field == "cron_timezone"
    assert repr(tz) in str(error)


class Opaque:
    pass


@pytest.mark.parametrize(
    ("context", "named"),
    [
        pytest.param({1, 2}, "context is {1, 2}, of type set", id="set"),
        pytest.param(
            {"at": datetime(2026, 1, 1, tzinfo=UTC)}, "context['at'] is datetime.", id="datetime"
        ),
        pytest.param(Opaque(), "context is <", id="object"),
        pytest.param({"when": date(2026, 1, 1)}, "context['when'] is datetime.date(", id="date"),
        pytest.param((1, 2), "context is (1, 2), of type tuple", id="tuple"),  # would be a list
        pytest.param({7: "int key"}, "the key 7", id="int-key"),  # would be "7"
        pytest.param(float("nan"), "context is nan", id="nan"),
        pytest.param({"deep": [float("inf")]}, "context['deep'][0] is inf", id="inf"),
    ],
)
def test_a_context_that_is_not_plain_json_is_rejected_naming_the_offending_part(context, named):
    error = assert_rejected(InvalidScheduleError, context=context)
    assert error.field == "context"
    assert "plain JSON" in str(error) and named in str(error)
    if isinstance(context, Opaque):
        assert "Opaque" in str(error)


def test_an_undecorated_function_is_rejected():
    def not_a_workflow(scheduled_at: datetime, context: Any) -> None:
        pass

    error = assert_rejected(InvalidScheduleError, workflow_fn=not_a_workflow)
    assert error.field == "workflow_name"
    assert "not_a_workflow" in str(error) and "@workflow()" in str(error)


def test_a_workflow_that_does_not_take_scheduled_at_and_context_is_rejected():
    error = assert_rejected(InvalidScheduleError, workflow_fn=workflows.one_argument)
    assert error.field == "workflow_name"
    assert "'one_argument'" in str(error) and "(scheduled_at, context)" in str(error)


def test_an_unregistered_workflow_is_rejected(clean_registry):
    # Decorated, then dropped from the registry (as if its module were gone).
    @durable.workflow(name="vanishing")
    def vanishing(scheduled_at: datetime, context: Any) -> None:
        pass

    del registry._workflows["vanishing"]

    error = assert_rejected(InvalidScheduleError, workflow_fn=vanishing)
    assert error.field == "workflow_name"
    assert "'vanishing'" in str(error) and "not registered" in str(error)


def test_an_undeclared_queue_is_rejected_naming_it():
    error = assert_rejected(InvalidScheduleError, queue_name="queues-never-declared")
    assert error.field == "queue_name"
    assert "'queues-never-declared'" in str(error)


@pytest.mark.parametrize(
    "method",
    [
        pytest.param(lambda: workflows.INVALID_SCHEDULED.instance_workflow, id="bound"),
        pytest.param(lambda: workflows.InvalidScheduled.instance_workflow, id="unbound"),
    ],
)
def test_a_configured_instance_method_is_rejected(method):
    error = assert_rejected(InvalidScheduleError, workflow_fn=method(), schedule="* * * * *")
    assert "Configured instance methods cannot be used as scheduled workflows" in str(error)
    assert error.field == "workflow_name"


def test_the_seeds_instance_method_rejection_matches():
    with pytest.raises(DurableError, match="Configured instance methods cannot be used"):
        durable.create_schedule(
            schedule_name="invalid-schedule",
            workflow_fn=workflows.INVALID_SCHEDULED.instance_workflow,
            schedule="* * * * *",
        )
    assert durable.get_schedule("invalid-schedule") is None


@pytest.mark.parametrize("name", ["", "   ", " padded", "tab\tname", "x" * 201, None, 7])
def test_a_bad_schedule_name_is_rejected(name):
    error = assert_rejected(InvalidScheduleError, schedule_name=name)
    assert error.field == "schedule_name"
    assert repr(name)[:40] in str(error)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_non_bool_automatic_backfill_is_rejected(value):
    error = assert_rejected(InvalidScheduleError, automatic_backfill=value)
    assert error.field == "automatic_backfill"
    assert repr(value) in str(error)


def test_a_method_of_an_undecorated_class_is_rejected(clean_registry):
    class Undecorated:
        @staticmethod
        @durable.workflow()
        def wf(scheduled_at: datetime, context: Any) -> None:
            pass

    error = assert_rejected(InvalidScheduleError, workflow_fn=Undecorated.wf)
    assert error.field == "workflow_name"
    assert "Undecorated.wf" in str(error)


def test_a_duplicate_name_is_a_conflict_and_changes_nothing():
    first = create("dup", cron="0 9 * * *", context={"v": 1})

    error = assert_rejected(
        ScheduleConflict, schedule_name="dup", schedule="*/5 * * * *", context={"v": 2}
    )

    assert isinstance(error, ValueError)
    assert "'dup'" in str(error)
    assert durable.get_schedule("dup") == first


def test_bad_input_is_checked_before_the_duplicate_name():
    create("dup")
    error = assert_rejected(InvalidScheduleError, schedule_name="dup", schedule="nope")
    assert error.field == "schedule"


# ---------------------------------------------------------------- list / get


@pytest.fixture
def several() -> None:
    create("report-daily", workflows.scheduled_report)
    create("report-weekly", workflows.scheduled_report, "0 9 * * 1")
    create("nightly-backup", workflows.backup_database, "0 0 2 * * *", context={"b": 1})
    create("staging-backup", workflows.backup_database, "0 0 3 * * *")
    create("static-class", workflows.MyScheduledClass.scheduled_wf)
    durable.pause_schedule("report-weekly")
    durable.pause_schedule("staging-backup")


def names_of(schedules: list[dict]) -> list[str]:
    return [item["schedule_name"] for item in schedules]


def test_list_schedules_without_filters_lists_every_schedule_by_name(several):
    all_schedules = durable.list_schedules()
    assert names_of(all_schedules) == [
        "nightly-backup",
        "report-daily",
        "report-weekly",
        "staging-backup",
        "static-class",
    ]
    for schedule in all_schedules:
        assert set(schedule) == KEYS
        assert schedule == durable.get_schedule(schedule["schedule_name"])


def test_the_seeds_list_filters(several):
    active_schedules = durable.list_schedules(status="ACTIVE")
    paused_schedules = durable.list_schedules(status="PAUSED")
    backup_schedules = durable.list_schedules(workflow_name="backup_database")
    report_schedules = durable.list_schedules(schedule_name_prefix="report-")

    assert names_of(active_schedules) == ["nightly-backup", "report-daily", "static-class"]
    assert {s["status"] for s in active_schedules} == {"ACTIVE"}
    assert names_of(paused_schedules) == ["report-weekly", "staging-backup"]
    assert {s["status"] for s in paused_schedules} == {"PAUSED"}
    assert names_of(backup_schedules) == ["nightly-backup", "staging-backup"]
    assert names_of(report_schedules) == ["report-daily", "report-weekly"]


def test_each_filter_takes_a_list(several):
    assert len(durable.list_schedules(status=["ACTIVE", "PAUSED"])) == 5
    assert names_of(
        durable.list_schedules(workflow_name=["backup_database", "MyScheduledClass.scheduled_wf"])
    ) == ["nightly-backup", "staging-backup", "static-class"]
    assert names_of(durable.list_schedules(schedule_name_prefix=["report-", "nightly"])) == [
        "nightly-backup",
        "report-daily",
        "report-weekly",
    ]
    assert names_of(durable.list_schedules(schedule_name_prefix=("st",))) == [
        "staging-backup",
        "static-class",
    ]


def test_filters_are_anded(several):
    assert names_of(durable.list_schedules(status="PAUSED", schedule_name_prefix="report-")) == [
        "report-weekly"
    ]
    assert names_of(durable.list_schedules(status="ACTIVE", workflow_name="backup_database")) == [
        "nightly-backup"
    ]
    assert (
        durable.list_schedules(
            status="ACTIVE", workflow_name="backup_database", schedule_name_prefix="staging"
        )
        == []
    )


@pytest.mark.parametrize("empty", ["status", "workflow_name", "schedule_name_prefix"])
def test_an_empty_list_filter_matches_nothing(several, empty):
    assert durable.list_schedules(**{empty: []}) == []


def test_unknown_filter_values_match_nothing(several):
    assert durable.list_schedules(status="RUNNING") == []
    assert durable.list_schedules(workflow_name="nope") == []
    assert durable.list_schedules(schedule_name_prefix="zzz") == []


def test_a_prefix_is_a_prefix_not_a_pattern(several):
    create("report_x")  # "_" is a LIKE wildcard; it must not match "report-"
    create("50%-off")
    assert names_of(durable.list_schedules(schedule_name_prefix="report_")) == ["report_x"]
    assert names_of(durable.list_schedules(schedule_name_prefix="50%")) == ["50%-off"]
    assert durable.list_schedules(schedule_name_prefix="%") == []


def test_get_schedule_of_an_unknown_name_is_none():
    assert durable.get_schedule("nope") is None


def test_the_seeds_get_pause_resume_delete_sequence():
    durable.create_schedule(
        schedule_name="nightly-backup",
        workflow_fn=workflows.backup_database,
        schedule="0 0 2 * * *",  # 2 AM daily
        context={"backup_name": "production"},
    )
    schedule = durable.get_schedule("nightly-backup")
    assert (schedule["schedule"], schedule["context"], schedule["status"]) == (
        "0 0 2 * * *",
        {"backup_name": "production"},
        "ACTIVE",
    )

    assert durable.pause_schedule("nightly-backup") is True
    assert durable.get_schedule("nightly-backup")["status"] == "PAUSED"
    assert durable.resume_schedule("nightly-backup") is True
    assert durable.get_schedule("nightly-backup")["status"] == "ACTIVE"
    assert durable.delete_schedule("nightly-backup") is True
    assert durable.get_schedule("nightly-backup") is None


# ---------------------------------------------------------------- pause / resume / delete


@pytest.mark.parametrize(
    "operation", [durable.pause_schedule, durable.resume_schedule, durable.delete_schedule]
)
def test_pause_resume_and_delete_of_an_unknown_name_return_false(operation):
    create("known")
    assert operation("unknown") is False
    assert names_of(durable.list_schedules()) == ["known"]
    assert durable.get_schedule("known")["status"] == "ACTIVE"


def test_pause_keeps_the_definition_and_is_idempotent():
    create("p", context={"k": 1})
    before = durable.get_schedule("p")

    assert durable.pause_schedule("p") is True
    assert durable.pause_schedule("p") is True

    after = durable.get_schedule("p")
    assert after["status"] == "PAUSED"
    assert {**after, "status": "ACTIVE"} == before
    assert row("p").status == "PAUSED"


def test_resume_sets_next_fire_at_to_the_first_slot_after_now():
    create("r", cron="*/10 * * * *", automatic_backfill=True)
    durable.pause_schedule("r")
    paused_at = utc(2020, 1, 1, 0, 0)  # as if paused for years
    WorkflowSchedule.objects.filter(schedule_name="r").update(next_fire_at=paused_at)

    before = timezone.now()
    assert durable.resume_schedule("r") is True

    stored = row("r")
    assert stored.status == "ACTIVE"
    assert_first_slot_after(stored.next_fire_at, Cron.parse("*/10 * * * *"), before)
    assert stored.last_fired_at is None
    assert WorkflowRun.objects.count() == 0


def test_resume_of_an_active_schedule_changes_nothing():
    create("a")
    marker = utc(2030, 1, 1, 9, 0)
    WorkflowSchedule.objects.filter(schedule_name="a").update(next_fire_at=marker)

    assert durable.resume_schedule("a") is True

    assert (row("a").status, row("a").next_fire_at) == ("ACTIVE", marker)


def test_resume_uses_the_schedules_timezone():
    create("tz", cron="0 9 * * *", cron_timezone=NEW_YORK)
    durable.pause_schedule("tz")
    before = timezone.now()
    durable.resume_schedule("tz")
    assert_first_slot_after(row("tz").next_fire_at, Cron.parse("0 9 * * *", NEW_YORK), before)


def test_delete_removes_the_row_but_keeps_its_runs():
    create("gone")
    handle = durable.trigger_schedule("gone")

    assert durable.delete_schedule("gone") is True

    assert not WorkflowSchedule.objects.filter(schedule_name="gone").exists()
    assert WorkflowRun.objects.get(pk=handle.workflow_id).schedule_name == "gone"
    assert durable.delete_schedule("gone") is False


def test_delete_of_a_code_defined_schedule_is_a_conflict():
    sync_code_schedules(timezone.now())
    assert row("code-every-5-minutes").origin == "code"

    with pytest.raises(ScheduleConflict, match=r"'code-every-5-minutes'.*@scheduled"):
        durable.delete_schedule("code-every-5-minutes")

    assert WorkflowSchedule.objects.filter(schedule_name="code-every-5-minutes").exists()


@EXECUTES
def test_a_code_defined_schedule_can_be_paused_resumed_and_triggered():
    sync_code_schedules(timezone.now())

    assert durable.pause_schedule("code-every-5-minutes") is True
    assert durable.get_schedule("code-every-5-minutes")["status"] == "PAUSED"
    handle = durable.trigger_schedule("code-every-5-minutes")
    assert durable.resume_schedule("code-every-5-minutes") is True

    run_until_idle()
    assert handle.get_status().status == "SUCCESS"
    assert [(name, ctx) for name, _, ctx in workflows.FIRED] == [
        ("code_scheduled", {"source": "code"})
    ]


# ---------------------------------------------------------------- trigger_schedule


def test_trigger_enqueues_a_run_now_with_a_trigger_id():
    create("trig", context={"n": 1})
    before = timezone.now()

    handle = durable.trigger_schedule("trig")

    after = timezone.now()
    prefix = "sched-trig-trigger-"
    assert handle.get_workflow_id() == handle.workflow_id
    assert handle.workflow_id.startswith(prefix)
    stamp = handle.workflow_id[len(prefix) :]
    triggered_at = datetime.fromisoformat(stamp)
    assert stamp == triggered_at.isoformat(timespec="microseconds")
    assert stamp.endswith("+00:00") and "." in stamp  # UTC, with microseconds
    assert before <= triggered_at <= after
    run = WorkflowRun.objects.get(pk=handle.workflow_id)
    assert (run.status, run.queue_name, run.schedule_name, run.name) == (
        RunStatus.ENQUEUED,
        INTERNAL,
        "trig",
        "scheduled_report",
    )
    assert run_args(handle.workflow_id) == [triggered_at, {"n": 1}]
    assert row("trig").last_fired_at is None  # a trigger is not a slot


@EXECUTES
def test_trigger_runs_with_scheduled_at_in_the_schedules_timezone():
    create("trig-ny", cron_timezone=NEW_YORK, context={"env": "prod"})

    handle = durable.trigger_schedule("trig-ny")
    run_until_idle()

    assert handle.get_status().status == "SUCCESS"
    [(name, scheduled_at, context)] = workflows.FIRED
    assert (name, context) == ("scheduled_report", {"env": "prod"})
    assert isinstance(scheduled_at, datetime) and scheduled_at.tzinfo is not None
    assert isinstance(scheduled_at.tzinfo, ZoneInfo) and scheduled_at.tzinfo.key == NEW_YORK
    triggered_at = datetime.fromisoformat(handle.workflow_id.split("-trigger-")[1])
    assert scheduled_at == triggered_at
    assert handle.get_result() == scheduled_at.isoformat()


@EXECUTES
def test_trigger_uses_the_schedules_queue():
    create("trig-q", queue_name=workflows.QUEUE_SCHEDULED.name)
    handle = durable.trigger_schedule("trig-q")
    assert WorkflowRun.objects.get(pk=handle.workflow_id).queue_name == "queues-scheduled"
    run_until_idle()
    assert handle.get_status().status == "SUCCESS"


def test_trigger_ignores_pause_and_never_deduplicates():
    create("trig-paused")
    durable.pause_schedule("trig-paused")

    first = durable.trigger_schedule("trig-paused")
    second = durable.trigger_schedule("trig-paused")

    assert first.workflow_id != second.workflow_id
    assert run_ids("trig-paused") == sorted([first.workflow_id, second.workflow_id])
    assert row("trig-paused").status == "PAUSED"


def test_trigger_of_an_unknown_name_raises_schedule_not_found():
    with pytest.raises(ScheduleNotFound, match="'nope'") as caught:
        durable.trigger_schedule("nope")
    assert isinstance(caught.value, LookupError)
    assert WorkflowRun.objects.count() == 0


@EXECUTES
def test_the_seeds_trigger_example():
    create("daily-report", context={"report_type": "Daily"})
    handle = durable.trigger_schedule("daily-report")
    assert handle.get_workflow_id().startswith("sched-daily-report-trigger-")
    run_until_idle()
    result = handle.get_result()
    assert result == workflows.FIRED[0][1].isoformat()


# ---------------------------------------------------------------- backfill_schedule


def test_backfill_enqueues_every_slot_strictly_between_start_and_end():
    create("daily", cron="0 9 * * *", context={"c": 1})

    handles = durable.backfill_schedule(
        schedule_name="daily", start=datetime(2026, 1, 1), end=datetime(2026, 1, 5)
    )

    expected = [f"sched-daily-2026-01-0{day}T09:00:00+00:00" for day in (1, 2, 3, 4)]
    assert [h.workflow_id for h in handles] == expected
    assert run_ids("daily") == expected
    for day, workflow_id in zip((1, 2, 3, 4), expected, strict=True):
        run = WorkflowRun.objects.get(pk=workflow_id)
        assert (run.status, run.queue_name, run.schedule_name) == (
            RunStatus.ENQUEUED,
            INTERNAL,
            "daily",
        )
        assert run_args(workflow_id) == [utc(2026, 1, day, 9, 0), {"c": 1}]


def test_backfill_bounds_are_exclusive():
    create("daily", cron="0 9 * * *")
    handles = durable.backfill_schedule("daily", utc(2026, 1, 1, 9, 0), utc(2026, 1, 3, 9, 0))
    assert [h.workflow_id for h in handles] == ["sched-daily-2026-01-02T09:00:00+00:00"]


def test_backfill_accepts_the_seeds_start_time_and_end_time_keywords():
    create("daily", cron="0 9 * * *")
    handles = durable.backfill_schedule(
        schedule_name="daily",
        start_time=datetime(2026, 1, 1),
        end_time=datetime(2026, 1, 31),
    )
    assert len(handles) == 30
    assert handles[0].workflow_id == "sched-daily-2026-01-01T09:00:00+00:00"
    assert handles[-1].workflow_id == "sched-daily-2026-01-30T09:00:00+00:00"
    assert WorkflowRun.objects.filter(schedule_name="daily").count() == 30


def test_backfill_with_both_start_and_start_time_is_a_type_error():
    create("daily")
    with pytest.raises(TypeError):
        durable.backfill_schedule(
            "daily", datetime(2026, 1, 1), datetime(2026, 1, 2), start_time=datetime(2026, 1, 1)
        )
    with pytest.raises(TypeError):
        durable.backfill_schedule("daily", start=datetime(2026, 1, 1))
    assert WorkflowRun.objects.count() == 0


def test_naive_bounds_are_utc_and_aware_bounds_keep_their_offset():
    create("hourly", cron="0 * * * *")
    naive = durable.backfill_schedule(
        "hourly", datetime(2026, 1, 1, 10, 30), datetime(2026, 1, 1, 12, 30)
    )
    tokyo = ZoneInfo("Asia/Tokyo")  # UTC+9
    aware = durable.backfill_schedule(
        "hourly",
        datetime(2026, 1, 1, 20, 30, tzinfo=tokyo),
        datetime(2026, 1, 1, 21, 30, tzinfo=tokyo),
    )
    assert [h.workflow_id for h in naive] == [
        "sched-hourly-2026-01-01T11:00:00+00:00",
        "sched-hourly-2026-01-01T12:00:00+00:00",
    ]
    assert [h.workflow_id for h in aware] == ["sched-hourly-2026-01-01T12:00:00+00:00"]
    assert WorkflowRun.objects.count() == 2


@EXECUTES
def test_backfill_ids_are_utc_for_a_schedule_in_another_timezone_across_dst():
    # US DST starts on Sunday 2026-03-08: 09:00 New York is 14:00 UTC, then 13:00 UTC.
    create("ny", cron="0 9 * * *", cron_timezone=NEW_YORK, context={"tz": "ny"})

    handles = durable.backfill_schedule("ny", utc(2026, 3, 7), utc(2026, 3, 10))

    assert [h.workflow_id for h in handles] == [
        "sched-ny-2026-03-07T14:00:00+00:00",
        "sched-ny-2026-03-08T13:00:00+00:00",
        "sched-ny-2026-03-09T13:00:00+00:00",
    ]
    run_until_idle()
    received = sorted(workflows.FIRED, key=lambda item: item[1])
    assert [(at.tzinfo.key, at.hour, ctx) for _, at, ctx in received] == [
        (NEW_YORK, 9, {"tz": "ny"})
    ] * 3
    assert [at.date() for _, at, _ in received] == [
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 9),
    ]


def test_running_a_backfill_again_creates_nothing_twice():
    create("daily", cron="0 9 * * *")
    first = durable.backfill_schedule("daily", datetime(2026, 1, 1), datetime(2026, 1, 4))
    created_at = dict(WorkflowRun.objects.values_list("pk", "created_at"))

    again = durable.backfill_schedule("daily", datetime(2026, 1, 1), datetime(2026, 1, 6))

    assert [h.workflow_id for h in again] == [
        f"sched-daily-2026-01-0{day}T09:00:00+00:00" for day in (1, 2, 3, 4, 5)
    ]
    assert [h.workflow_id for h in first] == [h.workflow_id for h in again[:3]]
    assert WorkflowRun.objects.count() == 5
    for workflow_id, stamp in created_at.items():
        assert WorkflowRun.objects.get(pk=workflow_id).created_at == stamp


def test_backfill_skips_a_slot_already_fired_by_the_scheduler():
    create("daily", cron="0 9 * * *", context={"c": 1})
    slot = utc(2026, 1, 2, 9, 0)
    WorkflowSchedule.objects.filter(schedule_name="daily").update(next_fire_at=slot)
    assert Scheduler(grace=60).tick(slot + timedelta(seconds=1)) == 1
    live_id = "sched-daily-2026-01-02T09:00:00+00:00"
    live = WorkflowRun.objects.get(pk=live_id)

    handles = durable.backfill_schedule("daily", datetime(2026, 1, 1), datetime(2026, 1, 4))

    assert [h.workflow_id for h in handles] == [
        "sched-daily-2026-01-01T09:00:00+00:00",
        live_id,
        "sched-daily-2026-01-03T09:00:00+00:00",
    ]
    assert WorkflowRun.objects.count() == 3
    assert WorkflowRun.objects.get(pk=live_id).created_at == live.created_at


def test_backfill_works_while_paused_and_leaves_the_schedule_paused():
    create("daily", cron="0 9 * * *")
    durable.pause_schedule("daily")
    next_fire_at = row("daily").next_fire_at

    handles = durable.backfill_schedule("daily", datetime(2026, 1, 1), datetime(2026, 1, 3))

    assert len(handles) == 2 and WorkflowRun.objects.count() == 2
    assert (row("daily").status, row("daily").next_fire_at) == ("PAUSED", next_fire_at)
    assert row("daily").last_fired_at is None


@EXECUTES
def test_backfilled_runs_execute_on_the_schedules_queue():
    create("daily", workflows.backup_database, queue_name="queues-scheduled", context={"b": 2})
    handles = durable.backfill_schedule("daily", datetime(2026, 1, 1), datetime(2026, 1, 3))
    assert {WorkflowRun.objects.get(pk=h.workflow_id).queue_name for h in handles} == {
        "queues-scheduled"
    }

    run_until_idle()

    assert [h.get_status().status for h in handles] == ["SUCCESS", "SUCCESS"]
    assert sorted((at, ctx) for _, at, ctx in workflows.FIRED) == [
        (utc(2026, 1, 1, 9), {"b": 2}),
        (utc(2026, 1, 2, 9), {"b": 2}),
    ]


@EXECUTES
def test_the_seeds_backfill_example():
    create("daily-report", cron="0 0 * * *")
    start = datetime.now(UTC) - timedelta(days=7)
    end = datetime.now(UTC)

    handles = durable.backfill_schedule(schedule_name="daily-report", start=start, end=end)

    assert len(handles) == 7
    run_until_idle()
    for handle in handles:
        assert (
            handle.get_result()
            == datetime.fromisoformat(
                handle.get_workflow_id().removeprefix("sched-daily-report-")
            ).isoformat()
        )


def test_backfill_up_to_max_backfill_is_allowed_and_beyond_it_writes_nothing():
    create("hourly", cron="0 * * * *")
    with override_settings(DURABLE={"MAX_BACKFILL": 3}):
        three = durable.backfill_schedule("hourly", utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 3, 30))
        assert len(three) == 3
        with pytest.raises(InvalidScheduleError, match="more than 3 runs") as caught:
            durable.backfill_schedule("hourly", utc(2026, 1, 2, 0, 30), utc(2026, 1, 2, 4, 30))
    assert "MAX_BACKFILL" in str(caught.value) and "'hourly'" in str(caught.value)
    assert WorkflowRun.objects.count() == 3


def test_a_backfill_reads_its_schedule_row_once():
    create("hourly", cron="0 * * * *")
    with CaptureQueriesContext(connection) as captured:
        durable.backfill_schedule("hourly", utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 3, 30))
    table = WorkflowSchedule._meta.db_table
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert sum(table in sql for sql in reads) == 1, reads


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 1, 2), datetime(2026, 1, 1)),
        (datetime(2026, 1, 1), datetime(2026, 1, 1)),
        (utc(2026, 1, 1, 12), datetime(2026, 1, 1, 12)),  # naive end is UTC: equal
    ],
)
def test_a_backfill_start_not_before_its_end_is_an_error(start, end):
    create("daily")
    with pytest.raises(InvalidScheduleError, match="must be before its end") as caught:
        durable.backfill_schedule("daily", start, end)
    assert caught.value.field == "start"
    assert WorkflowRun.objects.count() == 0


def test_backfill_bounds_must_be_datetimes():
    create("daily")
    with pytest.raises(InvalidScheduleError, match="datetime"):
        durable.backfill_schedule("daily", date(2026, 1, 1), date(2026, 1, 3))
    with pytest.raises(InvalidScheduleError, match="datetime"):
        durable.backfill_schedule("daily", "2026-01-01", "2026-01-03")
    assert WorkflowRun.objects.count() == 0


def test_backfill_of_an_unknown_name_raises_schedule_not_found():
    with pytest.raises(ScheduleNotFound, match="'nope'") as caught:
        durable.backfill_schedule("nope", datetime(2026, 1, 1), datetime(2026, 1, 2))
    assert isinstance(caught.value, LookupError)


def test_a_backfill_with_no_slot_in_range_returns_no_handle():
    create("yearly", cron="0 0 1 1 *")
    assert durable.backfill_schedule("yearly", datetime(2026, 2, 1), datetime(2026, 3, 1)) == []
    assert WorkflowRun.objects.count() == 0


# ---------------------------------------------------------------- apply_schedules


def test_apply_schedules_creates_from_plain_dicts_like_the_seeds():
    returned = durable.apply_schedules(
        [
            {
                "schedule_name": "hourly-sync",
                "workflow_fn": workflows.scheduled_report,
                "schedule": "0 0 * * * *",
                "context": {"source": "external-api"},
            },
            {
                "schedule_name": "daily-cleanup",
                "workflow_fn": workflows.backup_database,
                "schedule": "0 0 3 * * *",
                "context": {"retention_days": 30},
            },
        ]
    )

    assert names_of(returned) == ["hourly-sync", "daily-cleanup"]
    assert returned == [durable.get_schedule("hourly-sync"), durable.get_schedule("daily-cleanup")]
    cleanup = durable.get_schedule("daily-cleanup")
    assert (cleanup["workflow_name"], cleanup["context"], cleanup["status"]) == (
        "backup_database",
        {"retention_days": 30},
        "ACTIVE",
    )
    assert row("daily-cleanup").origin == "runtime"
    assert parse(cleanup["next_fire_at"]).hour == 3


def test_apply_schedules_accepts_schedule_input():
    before = timezone.now()
    durable.apply_schedules(
        [
            durable.ScheduleInput(
                schedule_name="schedule-1",
                workflow_fn=workflows.MyScheduledClass.scheduled_wf,
                schedule="0 * * * *",
                context={"id": 1},
                automatic_backfill=True,
                cron_timezone="America/Los_Angeles",
                queue_name="queues-scheduled",
            ),
        ]
    )

    got = durable.get_schedule("schedule-1")
    assert {k: v for k, v in got.items() if k not in ("schedule_id", "next_fire_at")} == {
        "schedule_name": "schedule-1",
        "workflow_name": "MyScheduledClass.scheduled_wf",
        "workflow_class_name": "MyScheduledClass",
        "schedule": "0 * * * *",
        "status": "ACTIVE",
        "context": {"id": 1},
        "last_fired_at": None,
        "automatic_backfill": True,
        "cron_timezone": "America/Los_Angeles",
        "queue_name": "queues-scheduled",
    }
    assert_first_slot_after(
        row("schedule-1").next_fire_at, Cron.parse("0 * * * *", "America/Los_Angeles"), before
    )


def test_apply_schedules_updates_in_place_keeping_id_status_and_last_fired_at():
    create("keep", cron="0 9 * * *", context={"v": 1})
    durable.pause_schedule("keep")
    fired = utc(2026, 1, 1, 9)
    WorkflowSchedule.objects.filter(schedule_name="keep").update(last_fired_at=fired)
    original = row("keep")

    durable.apply_schedules(
        [
            {
                "schedule_name": "keep",
                "workflow_fn": workflows.backup_database,
                "schedule": "0 9 * * *",
                "context": {"v": 2},
                "queue_name": "queues-scheduled",
                "automatic_backfill": True,
            }
        ]
    )

    updated = row("keep")
    assert updated.schedule_id == original.schedule_id
    assert updated.status == "PAUSED"
    assert updated.last_fired_at == fired
    assert updated.created_at == original.created_at
    assert (updated.workflow_name, updated.context, updated.queue_name) == (
        "backup_database",
        {"v": 2},
        "queues-scheduled",
    )
    assert updated.automatic_backfill is True
    assert WorkflowSchedule.objects.count() == 1


def test_apply_schedules_keeps_next_fire_at_when_cron_and_timezone_are_unchanged():
    create("same", cron="0 9 * * *", cron_timezone=NEW_YORK)
    marker = utc(2030, 6, 3, 13, 0)
    WorkflowSchedule.objects.filter(schedule_name="same").update(next_fire_at=marker)

    durable.apply_schedules(
        [
            {
                "schedule_name": "same",
                "workflow_fn": workflows.scheduled_report,
                "schedule": " 0 9 * * * ",  # surrounding spaces are not a change
                "cron_timezone": NEW_YORK,
                "context": {"changed": True},
            }
        ]
    )

    assert row("same").next_fire_at == marker
    assert row("same").context == {"changed": True}
    assert row("same").schedule == "0 9 * * *"


@pytest.mark.parametrize(
    ("change", "cron", "tz"),
    [
        ("cron", "30 10 * * *", NEW_YORK),
        ("timezone", "0 9 * * *", "Europe/Paris"),
        ("timezone to utc", "0 9 * * *", None),
    ],
)
def test_apply_schedules_resets_next_fire_at_when_cron_or_timezone_changes(change, cron, tz):
    create("retime", cron="0 9 * * *", cron_timezone=NEW_YORK)
    WorkflowSchedule.objects.filter(schedule_name="retime").update(
        next_fire_at=utc(2020, 1, 1, 14)
    )
    before = timezone.now()

    durable.apply_schedules(
        [
            {
                "schedule_name": "retime",
                "workflow_fn": workflows.scheduled_report,
                "schedule": cron,
                "cron_timezone": tz,
            }
        ]
    )

    assert_first_slot_after(row("retime").next_fire_at, Cron.parse(cron, tz), before)
    assert (row("retime").schedule, row("retime").cron_timezone) == (cron, tz)


def test_the_seeds_apply_then_update_example():
    def entries(cron: str, retention: int) -> list[dict[str, Any]]:
        return [
            {
                "schedule_name": "hourly-sync",
                "workflow_fn": workflows.scheduled_report,
                "schedule": cron,
                "context": {"source": "external-api"},
            },
            {
                "schedule_name": "daily-cleanup",
                "workflow_fn": workflows.backup_database,
                "schedule": "0 0 3 * * *",
                "context": {"retention_days": retention},
            },
        ]

    durable.apply_schedules(entries("0 0 * * * *", 30))
    ids = {s["schedule_name"]: s["schedule_id"] for s in durable.list_schedules()}
    cleanup_next = row("daily-cleanup").next_fire_at

    durable.apply_schedules(entries("0 */30 * * * *", 60))

    assert {s["schedule_name"]: s["schedule_id"] for s in durable.list_schedules()} == ids
    assert durable.get_schedule("hourly-sync")["schedule"] == "0 */30 * * * *"
    assert durable.get_schedule("daily-cleanup")["context"] == {"retention_days": 60}
    assert row("daily-cleanup").next_fire_at == cleanup_next
    assert row("hourly-sync").next_fire_at.minute in (0, 30)


def test_apply_schedules_leaves_unlisted_schedules_alone():
    create("other", context={"x": 1})
    other = durable.get_schedule("other")

    durable.apply_schedules(
        [{"schedule_name": "new", "workflow_fn": workflows.scheduled_report, "schedule": "@daily"}]
    )

    assert durable.get_schedule("other") == other
    assert names_of(durable.list_schedules()) == ["new", "other"]


def test_apply_schedules_of_an_empty_list_changes_nothing():
    create("other")
    assert durable.apply_schedules([]) == []
    assert names_of(durable.list_schedules()) == ["other"]


def good_entry(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schedule_name": name,
        "workflow_fn": workflows.scheduled_report,
        "schedule": "0 9 * * *",
        **extra,
    }


def assert_apply_rejected(exc_type: type[Exception], entries: list[Any]) -> Exception:
    """``apply_schedules(entries)`` raises and leaves every schedule as it was."""
    before = durable.list_schedules()
    with pytest.raises(exc_type) as caught:
        durable.apply_schedules(entries)
    assert durable.list_schedules() == before
    return caught.value


@pytest.mark.parametrize(
    ("bad", "field", "named"),
    [
        ({"schedule": "not cron"}, "schedule", "'not cron'"),
        ({"cron_timezone": "Nowhere/Land"}, "cron_timezone", "'Nowhere/Land'"),
        ({"context": {1, 2}}, "context", "set"),
        ({"queue_name": "queues-undeclared"}, "queue_name", "'queues-undeclared'"),
        ({"workflow_fn": workflows.one_argument}, "workflow_name", "'one_argument'"),
        (
            {"workflow_fn": workflows.INVALID_SCHEDULED.instance_workflow},
            "workflow_name",
            "Configured instance methods cannot be used as scheduled workflows",
        ),
        ({"schedule_name": ""}, "schedule_name", "''"),
    ],
)
def test_one_bad_entry_among_good_ones_writes_nothing_at_all(bad, field, named):
    create("existing", context={"v": 1})
    entries = [
        good_entry("existing", context={"v": 2}),
        good_entry("brand-new"),
        {**good_entry("third"), **bad},
    ]

    error = assert_apply_rejected(InvalidScheduleError, entries)

    assert error.field == field
    assert named in str(error)
    assert durable.get_schedule("brand-new") is None
    assert durable.get_schedule("existing")["context"] == {"v": 1}


def test_an_unknown_key_is_an_error_naming_it():
    error = assert_apply_rejected(
        InvalidScheduleError, [good_entry("a"), good_entry("b", timezone="UTC")]
    )
    assert "'timezone'" in str(error) and "entry 1" in str(error)


@pytest.mark.parametrize("missing", ["schedule_name", "workflow_fn", "schedule"])
def test_a_missing_required_key_is_an_error_naming_it(missing):
    entry = good_entry("b")
    del entry[missing]
    error = assert_apply_rejected(InvalidScheduleError, [good_entry("a"), entry])
    assert f"'{missing}'" in str(error) and "entry 1" in str(error)


def test_an_entry_that_is_not_a_dict_is_an_error():
    error = assert_apply_rejected(InvalidScheduleError, [good_entry("a"), "b"])
    assert "entry 1" in str(error)


def test_a_name_listed_twice_is_a_conflict():
    error = assert_apply_rejected(
        ScheduleConflict, [good_entry("twice"), good_entry("other"), good_entry("twice")]
    )
    assert "'twice'" in str(error)
    assert isinstance(error, ValueError)


def test_an_entry_naming_a_code_defined_schedule_is_a_conflict():
    sync_code_schedules(timezone.now())
    code_row = durable.get_schedule("code-every-5-minutes")

    error = assert_apply_rejected(
        ScheduleConflict, [good_entry("runtime-one"), good_entry("code-every-5-minutes")]
    )

    assert "'code-every-5-minutes'" in str(error) and "@scheduled" in str(error)
    assert durable.get_schedule("code-every-5-minutes") == code_row
    assert row("code-every-5-minutes").origin == "code"
    assert durable.get_schedule("runtime-one") is None


# ---------------------------------------------------------------- running scheduled workflows


@EXECUTES
def test_an_async_scheduled_workflow_receives_scheduled_at_and_context():
    create("async", workflows.scheduled_async, cron_timezone="Europe/Paris", context={"a": 1})
    triggered = durable.trigger_schedule("async")
    backfilled = durable.backfill_schedule("async", datetime(2026, 7, 1), datetime(2026, 7, 2))

    assert run_until_idle() == 2

    assert triggered.get_status().status == "SUCCESS"
    [slot] = backfilled
    assert slot.get_result() == "2026-07-01T09:00:00+02:00"
    assert sorted((name, ctx) for name, _, ctx in workflows.FIRED) == [
        ("scheduled_async", {"a": 1}),
        ("scheduled_async", {"a": 1}),
    ]
    assert {at.tzinfo.key for _, at, _ in workflows.FIRED} == {"Europe/Paris"}


@EXECUTES
def test_static_and_class_method_schedules_run_with_their_class():
    create("static", workflows.MyScheduledClass.scheduled_wf, context={"kind": "static"})
    create("classm", workflows.MyScheduledClass.class_wf, context={"kind": "class"})

    static = durable.trigger_schedule("static")
    classm = durable.backfill_schedule("classm", datetime(2026, 1, 1), datetime(2026, 1, 2))
    run_until_idle()

    assert static.get_result() is None
    assert [h.get_result() for h in classm] == ["MyScheduledClass"]
    assert sorted((name, ctx) for name, _, ctx in workflows.FIRED) == [
        ("MyScheduledClass.class_wf", {"kind": "class"}),
        ("MyScheduledClass.scheduled_wf", {"kind": "static"}),
    ]
    run = WorkflowRun.objects.get(pk=classm[0].workflow_id)
    assert (run.name, run.class_name) == ("MyScheduledClass.class_wf", "MyScheduledClass")
    assert run_args(run.pk) == [utc(2026, 1, 1, 9), {"kind": "class"}]  # no class in the inputs
