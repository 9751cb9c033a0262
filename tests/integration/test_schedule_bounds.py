"""Bounds on everything a schedule takes, through every entry point: the API raises
``InvalidScheduleError`` naming the field, the admin shows a form error (never a 500),
the ``durable`` command prints one line and fails; in every case nothing is written.

Also: crons that never fire, and backfills of slots still to come.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

import django_durable as durable
from django_durable import definitions, serialization
from django_durable.cron import Cron
from django_durable.exceptions import InvalidScheduleError
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.scheduler import Scheduler
from django_durable.testing import run_until_idle
from tests import workflows
from tests.integration.test_admin import (
    SCHEDULE_ADD,
    SCHEDULES,
    act,
    backfill_page,
    field_errors,
    has_apply_button,
    messages_of,
    schedule_form,
    text,
)
from tests.process.children import MANAGE, child_database_url

pytestmark = pytest.mark.django_db

NEVER = "0 0 30 2 *"
"""A cron with no date: 30 February."""


def deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


BAD_CONTEXTS = [
    pytest.param({"note": "a\x00b"}, "NUL character", id="nul-in-a-string"),
    pytest.param({"a\x00": 1}, "NUL character", id="nul-in-a-key"),
    pytest.param({"text": "\ud800"}, "surrogate", id="lone-surrogate"),
    pytest.param(deep(3000), "nested more than 100 levels", id="nested-3000-deep"),
    pytest.param({"n": 10**5000}, "integers must fit in 64 bits", id="integer-of-5000-digits"),
    pytest.param({"n": 2**63}, "integers must fit in 64 bits", id="integer-past-64-bits"),
    pytest.param({"blob": "x" * 70_000}, "at most 65536", id="over-64-kb"),
]


def assert_nothing_written() -> None:
    assert not WorkflowSchedule.objects.exclude(origin="code").exists()
    assert not WorkflowRun.objects.exists()


# ---------------------------------------------------------------- the API


@pytest.mark.parametrize(("context", "says"), BAD_CONTEXTS)
def test_create_schedule_refuses_a_context_out_of_bounds(context, says):
    with pytest.raises(InvalidScheduleError) as caught:
        durable.create_schedule(
            schedule_name="bounded",
            workflow_fn=workflows.scheduled_report,
            schedule="* * * * *",
            context=context,
        )
    assert caught.value.field == "context"
    assert says in str(caught.value)
    assert len(str(caught.value)) < 300  # names the part, does not echo the value
    assert_nothing_written()


@pytest.mark.parametrize(("context", "says"), BAD_CONTEXTS[:3])
def test_apply_schedules_refuses_every_entry_when_one_context_is_out_of_bounds(context, says):
    good = {
        "schedule_name": "good",
        "workflow_fn": workflows.scheduled_report,
        "schedule": "* * * * *",
    }
    with pytest.raises(InvalidScheduleError, match=says) as caught:
        durable.apply_schedules([good, {**good, "schedule_name": "bad", "context": context}])
    assert caught.value.field == "context"
    assert_nothing_written()


def test_the_context_size_cap_is_a_setting_checked_on_compact_json():
    context = {"blob": "é" * 500}  # 1,000 bytes of UTF-8, 1,011 as compact JSON
    with override_settings(DURABLE={"MAX_CONTEXT_BYTES": 1010}):
        with pytest.raises(InvalidScheduleError, match="1011 bytes as JSON; at most 1010"):
            durable.create_schedule(
                schedule_name="capped",
                workflow_fn=workflows.scheduled_report,
                schedule="* * * * *",
                context=context,
            )
    with override_settings(DURABLE={"MAX_CONTEXT_BYTES": 1011}):
        durable.create_schedule(
            schedule_name="capped",
            workflow_fn=workflows.scheduled_report,
            schedule="* * * * *",
            context=context,
        )
    assert WorkflowSchedule.objects.get(schedule_name="capped").context == context


def test_a_context_at_the_bounds_is_stored_and_passed_to_runs_exactly():
    context = {
        "big": 2**63 - 1,
        "small": -(2**63),
        "deep": deep(definitions.MAX_CONTEXT_DEPTH - 1),
        "text": "tab\tnew line\n é ✓",
    }
    durable.create_schedule(
        schedule_name="at-the-bounds",
        workflow_fn=workflows.scheduled_report,
        schedule="* * * * *",
        context=context,
    )
    row = WorkflowSchedule.objects.get(schedule_name="at-the-bounds")
    assert row.context == context
    WorkflowSchedule.objects.filter(pk=row.pk).update(
        next_fire_at=datetime(2026, 3, 2, 12, tzinfo=UTC)
    )
    assert Scheduler(grace=60).tick(datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)) == 1
    [run] = WorkflowRun.objects.filter(schedule_name="at-the-bounds")
    assert serialization.loads(run.inputs)["args"][1] == context


def test_a_cron_longer_than_its_column_is_refused():
    with pytest.raises(InvalidScheduleError, match="at most 255") as caught:
        durable.create_schedule(
            schedule_name="long-cron",
            workflow_fn=workflows.scheduled_report,
            schedule="0 " + "1," * 200 + "2 * * *",
        )
    assert caught.value.field == "schedule"
    assert_nothing_written()


@pytest.mark.parametrize("cron", [NEVER, "0 0 31 4,6,9,11 *", "0 0 0 30 2 *"])
def test_a_cron_that_never_fires_is_refused_quoting_it(cron):
    with pytest.raises(InvalidScheduleError) as caught:
        durable.create_schedule(
            schedule_name="never", workflow_fn=workflows.scheduled_report, schedule=cron
        )
    assert caught.value.field == "schedule"
    assert repr(cron) in str(caught.value) and "never fires" in str(caught.value)
    assert_nothing_written()


def test_a_cron_that_fires_only_on_29_february_is_accepted():
    cron = Cron.parse("0 0 29 2 *")
    assert cron.next_after(datetime(2097, 1, 1, tzinfo=UTC)) == datetime(2104, 2, 29, tzinfo=UTC)


def test_scheduled_refuses_a_cron_that_never_fires_at_import():
    with pytest.raises(InvalidScheduleError, match="never fires"):
        durable.scheduled(NEVER)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime(1, 1, 1), datetime(2026, 1, 1), "start"),
        (datetime(2026, 1, 1), datetime(9999, 12, 31, 23, 59), "end"),
        (datetime(1899, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "start"),
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(9000, 1, 2, tzinfo=UTC), "end"),
    ],
)
def test_backfill_refuses_dates_outside_the_range_schedules_are_computed_in(start, end, field):
    durable.create_schedule(
        schedule_name="daily", workflow_fn=workflows.scheduled_report, schedule="0 9 * * *"
    )
    with pytest.raises(InvalidScheduleError, match="outside the range") as caught:
        durable.backfill_schedule("daily", start, end)
    assert caught.value.field == field
    assert not WorkflowRun.objects.exists()


# ---------------------------------------------------------------- the admin


@pytest.mark.parametrize(
    ("context", "says"),
    [
        ('{"note": "a\\u0000b"}', "NUL character"),
        ("[" * 3000 + "]" * 3000, "nested"),
        ('{"n": ' + "9" * 5000 + "}", "integers of 64 bits"),
        ('{"n": ' + str(2**64) + "}", "integers must fit in 64 bits"),
        (json.dumps({"blob": "x" * 70_000}), "at most 65536"),
    ],
)
def test_the_schedule_form_shows_a_context_out_of_bounds_as_a_form_error(
    admin_client, context, says
):
    response = admin_client.post(SCHEDULE_ADD, schedule_form(context=context))

    assert response.status_code == 200
    assert says in field_errors(response, "context")
    assert_nothing_written()


def test_the_schedule_form_shows_a_cron_that_never_fires_as_a_form_error(admin_client):
    response = admin_client.post(SCHEDULE_ADD, schedule_form(schedule=NEVER))

    assert response.status_code == 200
    assert "never fires" in field_errors(response, "schedule")
    assert NEVER in field_errors(response, "schedule")
    assert_nothing_written()


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("0001-01-01T00:00", "2026-01-01T00:00", "start"),
        ("2026-01-01T00:00", "9999-12-31T23:59", "end"),
    ],
)
def test_the_backfill_form_shows_dates_out_of_range_as_form_errors(
    admin_client, start, end, field
):
    durable.create_schedule(
        schedule_name="ny",
        workflow_fn=workflows.scheduled_report,
        schedule="0 9 * * *",
        cron_timezone="America/New_York",
    )
    row = WorkflowSchedule.objects.get(schedule_name="ny")

    response = backfill_page(admin_client, [row], start=start, end=end, apply="Enqueue")

    errors = response.context["form"].errors
    assert list(errors) == [field] and "outside the range" in errors[field][0], errors
    assert "outside the range" in text(response)
    assert not has_apply_button(response)
    assert not WorkflowRun.objects.exists()


def test_resuming_a_stored_schedule_whose_cron_never_fires_is_a_message_not_an_error(
    admin_client,
):
    durable.create_schedule(
        schedule_name="broken", workflow_fn=workflows.scheduled_report, schedule="0 9 * * *"
    )
    durable.pause_schedule("broken")
    WorkflowSchedule.objects.filter(schedule_name="broken").update(schedule=NEVER)
    row = WorkflowSchedule.objects.get(schedule_name="broken")

    response = act(admin_client, SCHEDULES, "resume", [row.pk])

    assert response.status_code == 200
    assert any("Not resumed: broken" in m and "never fires" in m for m in messages_of(response))
    assert WorkflowSchedule.objects.get(pk=row.pk).status == "PAUSED"


# ---------------------------------------------------------------- the durable command


def refused(*args: str) -> str:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("durable", *args, stdout=out, stderr=err)
    return str(caught.value)


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--limit", str(10**20)],
        ["list", "--limit", str(2**31)],
        ["prune", "--older-than", "30d", "--batch-size", str(10**20)],
        [
            "backfill",
            "x",
            "--start",
            "2026-01-01",
            "--end",
            "2026-01-02",
            "--chunk-size",
            "9" * 30,
        ],
    ],
)
def test_the_durable_command_refuses_counts_past_an_integer_column(args):
    message = refused(*args)
    assert "expected a number <= 2147483647" in message
    assert "\n" not in message.strip()
    assert not WorkflowRun.objects.exists()


def test_the_durable_command_refuses_dates_past_the_calendar():
    message = refused("list", "--until", "9999-12-31T23:00-05:00")
    assert "out of the range of dates" in message and "\n" not in message.strip()


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "2026-01-01"), ("2026-01-01", "9999-12-31"), ("1800-01-01", "1900-01-02")],
)
def test_the_durable_command_refuses_a_backfill_outside_the_range_in_one_line(start, end):
    durable.create_schedule(
        schedule_name="daily", workflow_fn=workflows.scheduled_report, schedule="0 9 * * *"
    )
    message = refused("backfill", "daily", "--start", start, "--end", end)
    assert "outside the range schedules are computed in" in message
    assert "\n" not in message.strip()
    assert not WorkflowRun.objects.exists()


@pytest.mark.parametrize(
    ("argv", "status", "says"),
    [
        (["list", "--limit", str(10**20)], 2, "expected a number <= 2147483647"),
        (
            ["backfill", "x", "--start", "0001-01-01", "--end", "2026-01-01"],
            1,
            "outside the range",
        ),
    ],
    ids=["limit-past-the-column", "backfill-in-year-1"],
)
@pytest.mark.django_db(transaction=True)  # no transaction of this test holds SQLite's lock
def test_the_durable_command_exits_non_zero_with_one_error_line(argv, status, says):
    """The command as a user runs it: the status and stderr of a real process."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DATABASE_URL=child_database_url(), DJANGO_SETTINGS_MODULE="tests.settings")
    done = subprocess.run(
        [sys.executable, str(MANAGE), "durable", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == status, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr and says in done.stderr


# ---------------------------------------------------------------- backfill of slots to come


@pytest.mark.django_db(transaction=True)
def test_a_backfill_enqueues_slots_still_to_come_to_start_at_their_slot():
    durable.create_schedule(
        schedule_name="hourly", workflow_fn=workflows.scheduled_report, schedule="0 * * * *"
    )
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    past = [hour - timedelta(hours=2), hour - timedelta(hours=1)]
    future = [hour + timedelta(hours=1), hour + timedelta(hours=2)]
    if hour <= now:
        past.append(hour)

    handles = durable.backfill_schedule(
        "hourly", hour - timedelta(hours=2, minutes=30), hour + timedelta(hours=2, minutes=30)
    )

    assert [h.workflow_id for h in handles] == [
        f"sched-hourly-{slot.isoformat(timespec='seconds')}" for slot in [*past, *future]
    ]
    runs = {run.workflow_id: run for run in WorkflowRun.objects.filter(schedule_name="hourly")}
    for slot in past:
        assert runs[f"sched-hourly-{slot.isoformat(timespec='seconds')}"].run_after is None
    for slot in future:
        assert runs[f"sched-hourly-{slot.isoformat(timespec='seconds')}"].run_after == slot

    # A worker runs the past slots now and leaves the future ones for their time.
    assert run_until_idle() == len(past)
    statuses = dict(WorkflowRun.objects.values_list("workflow_id", "status"))
    for slot in future:
        assert statuses[f"sched-hourly-{slot.isoformat(timespec='seconds')}"] == RunStatus.ENQUEUED

    # The live fire of a backfilled future slot finds its run and adds nothing.
    WorkflowSchedule.objects.filter(schedule_name="hourly").update(next_fire_at=future[0])
    assert Scheduler(grace=60).tick(future[0] + timedelta(seconds=1)) == 1
    assert WorkflowRun.objects.filter(schedule_name="hourly").count() == len(past) + len(future)
    schedule = WorkflowSchedule.objects.get(schedule_name="hourly")
    assert (schedule.last_fired_at, schedule.next_fire_at) == (future[0], future[1])
