"""``manage.py durable`` through ``call_command``: what each subcommand prints, what it
changes, and how it refuses bad input (``CommandError``, nothing written)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

import django_durable as durable
from django_durable import registry, serialization
from django_durable.exceptions import InvalidScheduleError
from django_durable.management.commands.durable import Command
from django_durable.models import RunStatus, StepOutput, WorkflowRun, WorkflowSchedule
from django_durable.schedules import manual, sync_code_schedules
from tests import workflows

pytestmark = pytest.mark.django_db
EXECUTES = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
NEW_YORK = "America/New_York"


class TtyStringIO(StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def durable_cmd(*args: str, stdout: StringIO | None = None) -> tuple[str, str]:
    """Run ``durable *args``; what it printed on stdout and stderr."""
    out, err = stdout or StringIO(), StringIO()
    call_command("durable", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args: str) -> tuple[str, str, str]:
    """Run ``durable *args`` expecting a ``CommandError``; its message, stdout and stderr."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("durable", *args, stdout=out, stderr=err)
    return str(caught.value), out.getvalue(), err.getvalue()


def make_run(
    workflow_id: str,
    status: str = RunStatus.SUCCESS,
    *,
    name: str = "three_steps",
    created: datetime = T0,
    seconds: float | None = 90.0,
    queue: str | None = None,
    schedule: str | None = None,
    **fields: Any,
) -> WorkflowRun:
    """A run row created (and started) at ``created``; finished ``seconds`` later."""
    finished = status not in (RunStatus.ENQUEUED, RunStatus.PENDING) and seconds is not None
    return WorkflowRun.objects.create(
        workflow_id=workflow_id,
        name=name,
        status=status,
        inputs=serialization.dumps({"args": [1], "kwargs": {}}),
        queue_name=queue,
        schedule_name=schedule,
        created_at=created,
        updated_at=created,
        started_at=created,
        completed_at=created + timedelta(seconds=seconds) if finished else None,
        **fields,
    )


def statuses() -> dict[str, str]:
    return dict(WorkflowRun.objects.values_list("pk", "status"))


def first_column(text: str) -> list[str]:
    return [line.split()[0] for line in text.strip().splitlines()[1:]]


# ------------------------------------------------------------------------------- help


def test_every_subcommand_has_its_own_help():
    parser = Command().create_parser("manage.py", "durable")
    (subparsers,) = [a for a in parser._actions if a.dest == "subcommand"]
    expected = {
        "list",
        "show",
        "cancel",
        "resume",
        "schedules",
        "pause",
        "resume-schedule",
        "trigger",
        "backfill",
        "prune",
        "fork",
        "delete-schedule",
        "health",
    }
    assert set(subparsers.choices) == expected
    summary = parser.format_help()
    for name, sub in subparsers.choices.items():
        assert name in summary
        assert sub.description and len(sub.description) > 30, name
        assert f"durable {name}" in sub.format_help()
    prune_help = subparsers.choices["prune"].format_help()
    for option in ("--older-than", "--batch-size", "--dry-run", "--status", "--workflow"):
        assert option in prune_help


def test_a_subcommand_is_required_and_unknown_ones_are_refused():
    message, _, _ = refused()
    assert "subcommand" in message.lower() or "SUBCOMMAND" in message
    message, _, _ = refused("explode")
    assert "'explode'" in message


def test_from_the_command_line_a_refusal_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as caught:
        Command().run_from_argv(["manage.py", "durable", "show", "nope"])
    assert caught.value.code == 1
    assert "No run with id 'nope'" in capsys.readouterr().err


# ------------------------------------------------------------------------------- list


@pytest.fixture
def listed() -> None:
    make_run("a-ok", created=T0, queue="queues-plain")
    make_run("b-err", RunStatus.ERROR, created=T0 + timedelta(hours=1), name="failing_workflow")
    make_run("c-enq", RunStatus.ENQUEUED, created=T0 + timedelta(hours=2), queue="queues-plain")
    make_run("d-sched", created=T0 + timedelta(days=1), schedule="daily", seconds=3725)
    make_run(
        "e-class",
        RunStatus.PENDING,
        created=T0 + timedelta(days=2),
        name="DataWorkflows.process_data",
        class_name="DataWorkflows",
    )


def test_list_shows_an_aligned_table_newest_first(listed, django_assert_num_queries):
    with django_assert_num_queries(1):
        out, _ = durable_cmd("list")

    lines = out.strip().splitlines()
    assert lines[0].split() == [
        "ID",
        "WORKFLOW",
        "STATUS",
        "QUEUE",
        "SCHEDULE",
        "CREATED",
        "(UTC)",
        "DURATION",
    ]
    assert first_column(out) == ["e-class", "d-sched", "c-enq", "b-err", "a-ok"]
    assert lines[1].split() == [
        "e-class",
        "DataWorkflows.process_data",
        "PENDING",
        "-",
        "-",
        "2026-01-12",
        "08:00:00",
        "-",
    ]
    assert lines[2].split()[1:] == [
        "three_steps",
        "SUCCESS",
        "-",
        "daily",
        "2026-01-11",
        "08:00:00",
        "1h",
        "02m",
        "05s",
    ]
    assert lines[5].split()[2:4] == ["SUCCESS", "queues-plain"]
    assert lines[5].endswith("1m 30s")
    status_column = lines[0].index("STATUS")
    assert {line[status_column - 2 : status_column] for line in lines} == {"  "}
    assert all(line[status_column] != " " for line in lines)


def test_list_filters_combine(listed):
    def ids(*args: str) -> list[str]:
        return first_column(durable_cmd("list", *args)[0])

    assert ids("--status", "success") == ["d-sched", "a-ok"]
    assert ids("--status", "ERROR,ENQUEUED") == ["c-enq", "b-err"]
    assert ids("--status", "ERROR", "--status", "PENDING") == ["e-class", "b-err"]
    assert ids("--workflow", "failing_workflow,DataWorkflows.process_data") == ["e-class", "b-err"]
    assert ids("--queue", "queues-plain") == ["c-enq", "a-ok"]
    assert ids("--queue", "queues-plain", "--status", "SUCCESS") == ["a-ok"]
    assert ids("--schedule", "daily") == ["d-sched"]
    assert ids("--since", "2026-01-10T09:00:00", "--until", "2026-01-12") == [
        "d-sched",
        "c-enq",
        "b-err",
    ]
    assert ids("--until", "2026-01-10T09:00:00Z") == ["a-ok"]
    assert ids("--since", "2026-01-10T10:00:00+01:00") == ["e-class", "d-sched", "c-enq", "b-err"]


def test_list_limit_says_when_more_runs_match(listed):
    out, _ = durable_cmd("list", "--limit", "2")
    assert first_column(out)[:2] == ["e-class", "d-sched"]
    assert out.strip().splitlines()[-1] == "(newest 2 shown; more match: raise --limit or filter)"

    out, _ = durable_cmd("list", "--limit", "5")
    assert "more match" not in out


def test_list_with_no_match_says_so():
    assert durable_cmd("list")[0] == "No runs match.\n"


@override_settings(TIME_ZONE="Europe/Paris")
def test_list_times_are_in_the_current_timezone(listed):
    out, _ = durable_cmd("list", "--workflow", "failing_workflow")
    assert "CREATED (Europe/Paris)" in out
    assert "2026-01-10 10:00:00" in out  # 09:00 UTC


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "DONE"], "unknown status DONE; choose from ENQUEUED, PENDING"),
        (["--status", ","], "expected at least one status"),
        (["--since", "yesterday"], "argument --since: expected an ISO 8601 date or datetime"),
        (["--until", "2026-13-01"], "argument --until: expected an ISO 8601"),
        (["--since", "2026-01-02", "--until", "2026-01-01"], "must be before --until"),
        (["--limit", "0"], "argument --limit: expected a number >= 1, got '0'"),
        (["--limit", "many"], "expected a whole number, got 'many'"),
        (["--workflow", " "], "expected at least one name"),
    ],
)
def test_list_refuses_bad_filters(args, message):
    got, _, _ = refused("list", *args)
    assert message in got


# ------------------------------------------------------------------------------- show


@EXECUTES
def test_show_prints_fields_inputs_output_and_steps():
    assert workflows.three_steps(4) == "value=10"
    (run,) = WorkflowRun.objects.all()

    out, _ = durable_cmd("show", run.workflow_id)

    assert f"Run                {run.workflow_id}" in out
    assert "Workflow           three_steps" in out
    assert "Status             SUCCESS" in out
    assert "Created (UTC)      " in out
    assert "Inputs:\n  args: [4]\n  kwargs: {}" in out
    assert "Output:\n  'value=10'" in out
    steps = out[out.index("Steps (3):") :].splitlines()
    assert steps[1].split()[:2] == ["#", "NAME"]
    assert [line.split()[:2] for line in steps[2:5]] == [
        ["1", "add_one"],
        ["2", "double"],
        ["3", "to_text"],
    ]
    assert steps[2].endswith("5") and steps[4].endswith("'value=10'")


@EXECUTES
def test_show_prints_the_error_and_traceback_of_a_run_and_of_its_failed_step():
    with durable.SetWorkflowID("declined"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(7)

    out, _ = durable_cmd("show", "declined")

    assert "Status             ERROR" in out
    assert "\nError:\n  tests.workflows.PaymentDeclined: declined 7\n" in out
    assert "Traceback (most recent call last)" in out
    assert "Output:" not in out
    assert "ERROR tests.workflows.PaymentDeclined: declined 7" in out  # the step row
    assert "Step 1 (decline) error:\n  tests.workflows.PaymentDeclined: declined 7" in out


def test_show_decodes_tagged_values_and_lists_child_runs():
    run = make_run("parent", created=T0)
    run.output = serialization.dumps({"when": T0, "amount": (1, 2)})
    run.save(update_fields=["output"])
    StepOutput.objects.create(
        run=run,
        step_number=1,
        step_name="child",
        output=serialization.dumps(5),
        child_workflow_id="parent-1",
        started_at=T0,
        completed_at=T0 + timedelta(milliseconds=250),
    )

    out, _ = durable_cmd("show", "parent")

    assert "datetime.datetime(2026, 1, 10, 8, 0, tzinfo=datetime.timezone.utc)" in out
    assert "'amount': (1, 2)" in out
    (step,) = [line for line in out.splitlines() if line.strip().startswith("1 ")]
    assert step.split()[1:] == ["child", "2026-01-10", "08:00:00", "0.250s", "parent-1", "5"]


def test_show_of_a_run_without_steps_says_so():
    make_run("lonely", RunStatus.ENQUEUED)
    out, _ = durable_cmd("show", "lonely")
    assert "Steps: none recorded" in out
    assert "Output:" not in out and "Error:" not in out


def test_show_of_an_unknown_id_names_it():
    message, out, _ = refused("show", "no-such-run")
    assert message == "No run with id 'no-such-run'."
    assert out == ""


# ---------------------------------------------------------------------- cancel, resume


def test_cancel_reports_each_id_and_fails_after_handling_the_others():
    make_run("waiting", RunStatus.ENQUEUED, queue="queues-plain")
    make_run("done", RunStatus.SUCCESS)
    make_run("waiting-too", RunStatus.ENQUEUED, queue="queues-plain")

    message, out, err = refused("cancel", "waiting", "done", "ghost", "waiting-too")

    assert statuses() == {"waiting": "CANCELLED", "done": "SUCCESS", "waiting-too": "CANCELLED"}
    assert out.splitlines() == ["waiting: cancelled", "waiting-too: cancelled"]
    assert err.splitlines() == [
        "done: already finished (SUCCESS); not cancelled",
        "ghost: No workflow run has the id 'ghost'.",
    ]
    assert message == "2 of 4 could not be cancelled."


def test_cancel_of_in_flight_runs_succeeds_quietly():
    make_run("a", RunStatus.ENQUEUED, queue="queues-plain")
    out, err = durable_cmd("cancel", "a", "a")
    assert (out, err) == ("a: cancelled\n", "")
    assert statuses() == {"a": "CANCELLED"}


def test_resume_enqueues_on_the_internal_queue_and_reports_refusals():
    make_run("stopped", RunStatus.CANCELLED, queue="queues-plain")
    make_run("failed", RunStatus.ERROR)
    make_run("fine", RunStatus.SUCCESS)
    make_run("gone-code", RunStatus.ERROR, name="no_such_workflow")

    message, out, err = refused("resume", "stopped", "fine", "failed", "gone-code", "ghost")

    assert out.splitlines() == [
        "stopped: resumed (enqueued for a worker)",
        "failed: resumed (enqueued for a worker)",
    ]
    errors = err.splitlines()
    assert errors[0] == "fine: Workflow 'fine' already succeeded; nothing to resume."
    assert errors[1].startswith("gone-code: No workflow named 'no_such_workflow' is registered")
    assert errors[2] == "ghost: No workflow run has the id 'ghost'."
    assert message == "3 of 5 could not be resumed."
    stopped = WorkflowRun.objects.get(pk="stopped")
    assert (stopped.status, stopped.queue_name) == ("ENQUEUED", registry.INTERNAL_QUEUE_NAME)
    assert statuses()["fine"] == "SUCCESS" and statuses()["gone-code"] == "ERROR"


@pytest.mark.parametrize(
    ("subcommand", "argument"),
    [
        ("cancel", "workflow_id"),
        ("resume", "workflow_id"),
        ("show", "workflow_id"),
        ("pause", "name"),
        ("resume-schedule", "name"),
        ("trigger", "name"),
        ("backfill", "name"),
    ],
)
def test_an_id_or_name_is_required(subcommand, argument):
    message, out, _ = refused(subcommand)
    assert "the following arguments are required" in message
    assert argument in message
    assert out == ""


# -------------------------------------------------------------------------- schedules


def create(name: str, cron: str = "0 9 * * *", **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("workflow_fn", workflows.scheduled_report)
    return durable.create_schedule(schedule_name=name, schedule=cron, **kwargs)


@pytest.fixture
def several() -> None:
    create("nightly", "0 2 * * *", cron_timezone=NEW_YORK, queue_name="queues-scheduled")
    create("hourly", "0 * * * *", workflow_fn=workflows.backup_database)
    create("class-based", "*/15 * * * *", workflow_fn=workflows.MyScheduledClass.scheduled_wf)
    durable.pause_schedule("hourly")
    sync_code_schedules(timezone.now())


def test_schedules_lists_every_schedule_with_its_next_fire_in_its_timezone(several):
    out, _ = durable_cmd("schedules")

    lines = out.strip().splitlines()
    assert lines[0].split()[:9] == [
        "NAME",
        "WORKFLOW",
        "CRON",
        "TIMEZONE",
        "STATUS",
        "NEXT",
        "FIRE",
        "(ITS",
        "TZ)",
    ]
    assert "LAST FIRED (UTC)" in lines[0] and lines[0].endswith("ORIGIN")
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["class-based", "code-every-5-minutes", "hourly", "nightly"]
    nightly = WorkflowSchedule.objects.get(schedule_name="nightly")
    local = nightly.next_fire_at.astimezone(ZoneInfo(NEW_YORK))
    assert local.isoformat(sep=" ") in rows["nightly"]
    assert local.hour == 2
    assert rows["nightly"].split()[-2:] == ["queues-scheduled", "runtime"]
    assert "America/New_York" in rows["nightly"]
    assert rows["hourly"].split()[1:6] == ["backup_database", "0", "*", "*", "*"]
    assert rows["hourly"].split()[8:10] == ["PAUSED", "-"]
    assert rows["code-every-5-minutes"].split()[-1] == "code"
    assert rows["class-based"].split()[1] == "MyScheduledClass.scheduled_wf"


def test_schedules_filters(several):
    def names(*args: str) -> list[str]:
        return first_column(durable_cmd("schedules", *args)[0])

    assert names("--status", "paused") == ["hourly"]
    assert names("--status", "ACTIVE", "--prefix", "n,c") == [
        "class-based",
        "code-every-5-minutes",
        "nightly",
    ]
    assert names("--workflow", "backup_database,scheduled_report") == ["hourly", "nightly"]
    assert durable_cmd("schedules", "--prefix", "zzz")[0] == "No schedules match.\n"


def test_schedules_refuses_an_unknown_status():
    assert (
        "unknown status RUNNING; choose from ACTIVE, PAUSED"
        in refused("schedules", "--status", "running")[0]
    )


def test_pause_and_resume_schedule_report_each_name(several):
    message, out, err = refused("pause", "nightly", "ghost", "hourly")

    assert out.splitlines() == ["nightly: paused", "hourly: already paused"]
    assert err.splitlines() == ["ghost: no schedule named 'ghost'"]
    assert message == "1 of 3 could not be paused."
    assert WorkflowSchedule.objects.get(schedule_name="nightly").status == "PAUSED"

    out, err = durable_cmd("resume-schedule", "nightly", "class-based")

    lines = out.splitlines()
    assert lines[0].startswith("nightly: resumed; next fire ")
    assert lines[0].endswith(" (America/New_York)")
    assert lines[1] == "class-based: already active"
    assert err == ""
    assert WorkflowSchedule.objects.get(schedule_name="nightly").status == "ACTIVE"
    message, _, err = refused("resume-schedule", "ghost")
    assert (message, err) == ("1 of 1 could not be resumed.", "ghost: no schedule named 'ghost'\n")


def test_trigger_prints_the_new_run_id(several):
    out, _ = durable_cmd("trigger", "hourly")  # paused: a trigger ignores pause

    (run,) = WorkflowRun.objects.all()
    assert out == f"{run.workflow_id}\n"
    assert run.workflow_id.startswith("sched-hourly-trigger-")
    assert (run.status, run.schedule_name, run.name) == ("ENQUEUED", "hourly", "backup_database")


def test_trigger_of_an_unknown_schedule_is_refused():
    message, out, _ = refused("trigger", "ghost")
    assert message == "No schedule named 'ghost'."
    assert out == "" and WorkflowRun.objects.count() == 0


# --------------------------------------------------------------------------- backfill


def test_backfill_without_a_terminal_prints_plain_progress_lines():
    create("daily")

    out, _ = durable_cmd(
        "backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-06", "--chunk-size", "2"
    )

    assert out.splitlines() == [
        "2/5 slots",
        "4/5 slots",
        "5/5 slots",
        "Backfilled 'daily': 5 slot(s) between 2026-01-01T00:00:00+00:00 and "
        "2026-01-06T00:00:00+00:00; 5 enqueued, 0 already had a run.",
    ]
    assert "\r" not in out
    assert sorted(WorkflowRun.objects.values_list("pk", flat=True)) == [
        f"sched-daily-2026-01-0{day}T09:00:00+00:00" for day in range(1, 6)
    ]


def test_backfill_on_a_terminal_draws_a_progress_bar():
    create("daily")
    tty = TtyStringIO()

    durable_cmd(
        "backfill",
        "daily",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-05",
        "--chunk-size",
        "3",
        stdout=tty,
    )

    out = tty.getvalue()
    assert out.startswith(f"\r[{'#' * 22}{'.' * 8}] 3/4 slots\r[{'#' * 30}] 4/4 slots\n")
    assert out.endswith("4 enqueued, 0 already had a run.\n")
    assert "\n3/4 slots" not in out


def test_backfill_counts_slots_that_already_have_a_run():
    create("daily")
    durable.backfill_schedule("daily", datetime(2026, 1, 1), datetime(2026, 1, 3))

    out, _ = durable_cmd("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-05")

    assert out.splitlines()[-1].endswith("; 2 enqueued, 2 already had a run.")
    assert WorkflowRun.objects.count() == 4


def test_backfill_with_no_slot_in_range_says_so():
    create("yearly", "0 0 1 1 *")
    out, _ = durable_cmd("backfill", "yearly", "--start", "2026-02-01", "--end", "2026-03-01")
    assert out.startswith("No slot of 'yearly' between 2026-02-01T00:00:00+00:00")
    assert WorkflowRun.objects.count() == 0


def test_backfill_beyond_max_backfill_is_refused_and_enqueues_nothing():
    create("hourly", "0 * * * *")
    with override_settings(DURABLE={"MAX_BACKFILL": 3}):
        message, out, _ = refused(
            "backfill", "hourly", "--start", "2026-01-01T00:30", "--end", "2026-01-01T04:30"
        )
        assert "would enqueue more than 3 runs (DURABLE['MAX_BACKFILL'])" in message
        durable_cmd(
            "backfill", "hourly", "--start", "2026-01-01T00:30", "--end", "2026-01-01T03:30"
        )
    assert out == ""
    assert WorkflowRun.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["daily", "--start", "2026-01-02", "--end", "2026-01-01"], "must be before --end"),
        (["daily", "--start", "2026-01-01", "--end", "2026-01-01"], "must be before --end"),
        (["daily", "--start", "soon", "--end", "2026-01-01"], "argument --start: expected an ISO"),
        (["daily", "--end", "2026-01-01"], "--start"),
        (["daily", "--start", "2026-01-01", "--end", "2026-01-02", "--chunk-size", "0"], ">= 1"),
        (["ghost", "--start", "2026-01-01", "--end", "2026-01-02"], "No schedule named 'ghost'"),
    ],
)
def test_backfill_refuses_bad_input_and_writes_nothing(args, message):
    create("daily")
    got, _, _ = refused("backfill", *args)
    assert message in got
    assert WorkflowRun.objects.count() == 0


def test_backfill_of_a_schedule_whose_workflow_is_gone_writes_nothing(clean_registry):
    create("daily")
    WorkflowSchedule.objects.filter(schedule_name="daily").update(workflow_name="removed")

    message, _, _ = refused("backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-04")

    assert "No workflow named 'removed'" in message
    assert "0 of 3 slot(s) were handled" in message
    assert WorkflowRun.objects.count() == 0


def test_chunked_enqueue_matches_a_single_backfill_across_dst():
    create("ny", "30 2 * * *", cron_timezone=NEW_YORK)  # 02:30 does not exist on 8 March
    start, end = datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC)
    slots = manual.backfill_slots("ny", start, end, limit=100)

    chunked = [manual.enqueue_slots("ny", slots[i : i + 2]) for i in range(0, len(slots), 2)]

    created = [run_id for part in chunked for run_id in part.created]
    assert len(slots) == 5 and len(created) == 5
    again = manual.backfill("ny", start, end)
    assert (again.created, sorted(again.existing)) == ([], sorted(created))


def test_enqueue_slots_refuses_what_is_not_a_slot_and_writes_nothing():
    create("daily")
    good = datetime(2026, 1, 1, 9, tzinfo=UTC)
    with pytest.raises(InvalidScheduleError, match="is not a slot of schedule 'daily'"):
        manual.enqueue_slots("daily", [good, good + timedelta(minutes=1)])
    with pytest.raises(InvalidScheduleError, match="must be an aware datetime"):
        manual.enqueue_slots("daily", [datetime(2026, 1, 1, 9)])
    assert WorkflowRun.objects.count() == 0
    assert manual.enqueue_slots("daily", [good.astimezone(timezone.get_fixed_timezone(60))])
    assert WorkflowRun.objects.filter(pk="sched-daily-2026-01-01T09:00:00+00:00").exists()


# ------------------------------------------------------------------------------ prune


NOW_OLD = timedelta(days=40)


@pytest.fixture
def prunable_runs() -> None:
    old = timezone.now() - NOW_OLD
    make_run("old-ok", created=old)
    make_run("old-ok-2", created=old)
    make_run("old-err", RunStatus.ERROR, created=old, name="failing_workflow")
    make_run("old-pending", RunStatus.PENDING, created=old)
    make_run("fresh", created=timezone.now() - timedelta(hours=1))
    for run_id in ("old-ok", "old-err", "old-pending"):
        StepOutput.objects.create(
            run_id=run_id, step_number=1, step_name="add_one", output="2", completed_at=old
        )


def test_prune_dry_run_prints_counts_and_deletes_nothing(prunable_runs):
    out, _ = durable_cmd("prune", "--older-than", "30d", "--dry-run")

    lines = out.splitlines()
    assert lines[0].startswith("Dry run: would delete 3 run(s) and 2 step(s) finished before ")
    assert lines[0].endswith(" (UTC).")
    assert [line.split() for line in lines[1:]] == [
        ["STATUS", "RUNS"],
        ["ERROR", "1"],
        ["SUCCESS", "2"],
    ]
    assert len(statuses()) == 5 and StepOutput.objects.count() == 3


def test_prune_deletes_finished_runs_and_reports_them(prunable_runs):
    out, _ = durable_cmd("prune", "--older-than", "4w", "--batch-size", "2")

    assert out.splitlines()[0].startswith("Deleted 3 run(s) and 2 step(s) finished before ")
    assert out.splitlines()[0].endswith(", in 2 batch(es).")
    assert sorted(statuses()) == ["fresh", "old-pending"]
    assert list(StepOutput.objects.values_list("run_id", flat=True)) == ["old-pending"]


def test_prune_filters_by_status_and_workflow(prunable_runs):
    durable_cmd("prune", "--older-than", "720h", "--status", "error")
    assert "old-err" not in statuses() and "old-ok" in statuses()
    out, _ = durable_cmd("prune", "--older-than", "43200m", "--workflow", "nothing-like-it")
    assert out.startswith("Deleted 0 run(s) and 0 step(s)")
    assert "STATUS" not in out
    durable_cmd("prune", "--older-than", "2592000s", "--workflow", "three_steps")
    assert sorted(statuses()) == ["fresh", "old-pending"]


def test_prune_counts_a_young_cutoff_in_the_current_timezone(prunable_runs):
    with override_settings(TIME_ZONE="Asia/Tokyo"):
        out, _ = durable_cmd("prune", "--older-than", "1h", "--dry-run")
    assert out.splitlines()[0].endswith(" (Asia/Tokyo).")
    assert "would delete 3 run(s)" in out  # "fresh" finished 58.5 minutes ago


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: --older-than"),
        (["--older-than", "30"], "argument --older-than: expected a number and a unit"),
        (["--older-than", "30y"], "expected a number and a unit s, m, h, d or w"),
        (["--older-than", "0d"], "expected a duration > 0, got '0d'"),
        (["--older-than=-5d"], "expected a number and a unit"),
        (["--older-than", "99999999999w"], "is too large"),
        (["--older-than", "30d", "--status", "ENQUEUED"], "ENQUEUED runs are never pruned"),
        (["--older-than", "30d", "--status", "SUCCESS,PENDING"], "PENDING runs are never"),
        (["--older-than", "30d", "--status", "DONE"], "unknown status DONE"),
        (["--older-than", "30d", "--batch-size", "0"], "argument --batch-size: expected"),
    ],
)
def test_prune_refuses_bad_input_and_deletes_nothing(prunable_runs, args, message):
    got, out, _ = refused("prune", *args)
    assert message in got
    assert out == ""
    assert len(statuses()) == 5 and StepOutput.objects.count() == 3


@pytest.fixture(autouse=True)
def _no_fired() -> Iterator[None]:
    workflows.FIRED.clear()
    yield
    workflows.FIRED.clear()
