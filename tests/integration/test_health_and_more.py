"""``manage.py durable health``, ``fork`` and ``delete-schedule``, and the command's
quiet console."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError
from django.utils import timezone

import django_durable as durable
from django_durable import health
from django_durable.models import Executor, RunStatus, StepOutput, WorkflowRun, WorkflowSchedule
from django_durable.schedules import sync_code_schedules
from tests import workflows

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def durable_cmd(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("durable", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        call_command("durable", *args, stdout=StringIO(), stderr=StringIO())
    return caught.value


def beat(executor_id: str, seconds_ago: float, host: str | None = None) -> None:
    Executor.objects.create(
        executor_id=executor_id,
        hostname=host or socket.gethostname(),
        last_heartbeat_at=timezone.now() - timedelta(seconds=seconds_ago),
    )


# ---------------------------------------------------------------- health


def test_health_passes_with_a_fresh_heartbeat_and_no_late_schedule():
    beat("here:1", 2)
    durable.create_schedule(
        schedule_name="fine", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    out, _ = durable_cmd("health")
    assert out.strip().startswith("healthy: database 'default' answers; 1 executor(s) on ")
    assert out.strip().endswith("no schedule is late by more than 60 s")
    assert len(out.strip().splitlines()) == 1


def test_health_fails_with_exit_2_without_a_heartbeat_of_this_host():
    beat("elsewhere:1", 1, host="another-host")
    error = refused("health")
    assert error.returncode == 2
    assert str(error) == f"unhealthy: no executor on {socket.gethostname()} has ever heartbeat"
    beat("here:1", 600)
    error = refused("health", "--max-heartbeat-age", "30")
    assert error.returncode == 2
    assert "newest: here:1, 600 s ago" in str(error)
    # Another host's probe names that host.
    assert durable_cmd("health", "--host", "another-host")[0].startswith("healthy:")


def test_health_fails_with_exit_3_when_a_schedule_is_late():
    beat("here:1", 1)
    durable.create_schedule(
        schedule_name="stuck", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    WorkflowSchedule.objects.filter(schedule_name="stuck").update(
        next_fire_at=timezone.now() - timedelta(minutes=10)
    )
    error = refused("health")
    assert error.returncode == 3
    assert "1 schedule(s) late by more than 60 s; the latest, 'stuck', by 6" in str(error)
    assert durable_cmd("health", "--max-schedule-lag", "3600")[0].startswith("healthy:")
    assert durable_cmd("health", "--checks", "database,heartbeat")[0].startswith("healthy:")
    durable.pause_schedule("stuck")
    assert durable_cmd("health")[0].startswith("healthy:")


def test_health_fails_with_exit_1_when_the_database_does_not_answer():
    with mock.patch.object(health, "connections") as conns:
        conns.__getitem__.return_value.cursor.side_effect = DatabaseError("connection refused")
        error = refused("health")
    assert error.returncode == 1
    assert str(error) == "unhealthy: database 'default': connection refused"


@pytest.mark.parametrize(
    "args", [["--checks", "disk"], ["--max-schedule-lag", "-1"], ["--max-heartbeat-age", "x"]]
)
def test_health_refuses_bad_options(args):
    with pytest.raises(CommandError):
        call_command("durable", "health", *args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db(transaction=True)
def test_health_exit_codes_from_a_real_process():
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    from tests.process.children import child_database_url

    env["DATABASE_URL"] = child_database_url()
    import os

    env = {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, **env}
    command = [sys.executable, str(ROOT / "manage.py"), "durable", "health", "--checks"]
    failed = subprocess.run(
        [*command, "database,heartbeat"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 2, failed.stderr
    assert (
        failed.stderr.strip().splitlines()[-1].startswith("CommandError: unhealthy: no executor")
    )
    ok = subprocess.run(
        [*command, "database"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "healthy: database 'default' answers"


# ---------------------------------------------------------------- fork, delete-schedule


@pytest.mark.django_db(transaction=True)
def test_fork_from_the_failed_step_or_a_given_one():
    workflows.ADMIN_FAIL.set()
    try:
        with durable.SetWorkflowID("cmd-failed"), pytest.raises(workflows.PaymentDeclined):
            workflows.admin_fails_at_step_two(1)
    finally:
        workflows.ADMIN_FAIL.clear()
    out, _ = durable_cmd("fork", "cmd-failed")
    retried = WorkflowRun.objects.get(pk=out.strip())
    assert (retried.status, retried.forked_from) == (RunStatus.ENQUEUED, "cmd-failed")
    assert list(
        StepOutput.objects.filter(run_id=retried.pk).values_list("step_number", flat=True)
    ) == [1]
    out, _ = durable_cmd("fork", "cmd-failed", "--step", "1")
    assert not StepOutput.objects.filter(run_id=out.strip()).exists()
    assert "No workflow run has the id 'ghost'" in str(refused("fork", "ghost"))
    with pytest.raises(CommandError):
        call_command(
            "durable", "fork", "cmd-failed", "--step", "0", stdout=StringIO(), stderr=StringIO()
        )


def test_delete_schedule_deletes_runtime_ones_and_refuses_code_ones():
    sync_code_schedules(timezone.now())
    durable.create_schedule(
        schedule_name="gone", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    out = StringIO()
    err = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(
            "durable",
            "delete-schedule",
            "gone",
            "code-every-5-minutes",
            "ghost",
            stdout=out,
            stderr=err,
        )
    assert str(caught.value) == "2 of 3 could not be deleted."
    assert out.getvalue() == "gone: deleted\n"
    lines = err.getvalue().splitlines()
    assert (
        lines[0].startswith("code-every-5-minutes: ")
        and lines[1] == "ghost: no schedule with this name"
    )
    assert list(WorkflowSchedule.objects.values_list("schedule_name", flat=True)) == [
        "code-every-5-minutes"
    ]


def test_pause_and_trigger_print_their_own_line_only(caplog):
    durable.create_schedule(
        schedule_name="quiet", workflow_fn=workflows.scheduled_report, schedule="* * * * *"
    )
    logging.getLogger("django_durable").setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger="django_durable"):
            logging.getLogger("django_durable").setLevel(logging.INFO)
            out, err = durable_cmd("pause", "quiet")
            assert err == "" and out.strip() == "quiet: paused"
            assert not [r for r in caplog.records if r.levelno < logging.WARNING]
            call_command(
                "durable", "trigger", "quiet", verbosity=2, stdout=StringIO(), stderr=StringIO()
            )
            assert [r for r in caplog.records if getattr(r, "action", "") == "schedule_triggered"]
        assert logging.getLogger("django_durable").level == logging.INFO  # restored
    finally:
        logging.getLogger("django_durable").setLevel(logging.NOTSET)
