"""The example project, as a newcomer runs it: its management commands on a fresh SQLite
file, and ``bash scripts/demo.sh`` itself (web server and scheduler, stopped by Ctrl-C).

Every command is a real subprocess (``sys.executable manage.py ...`` with
``DJANGO_SETTINGS_MODULE=example_project.settings``, from the repository root) on a SQLite
file of its own, whatever database the rest of the suite uses; the tests read that file
with ``sqlite3``.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from django_durable import serialization
from tests.process.children import MANAGE, ROOT, SCRUBBED

pytestmark = pytest.mark.process

COMMAND_TIMEOUT = 180.0
"""Seconds one management command may take."""

METRIC_TYPES = ("operations", "business", "financial")

APPLIED = {
    "hourly-sync",
    "daily-cleanup",
    "hourly-ops-report",
    "daily-summary",
    "weekly-executive",
    "monthly-financial",
}
"""Written by ``setup_demo`` with ``apply_schedules``."""
CREATED = {"nightly-backup", "production-backup", "staging-backup"}
"""Written by ``setup_demo`` with ``create_schedule`` when missing."""
IN_CODE = {
    "collect-metrics",
    "daily-report",
    "distributed-task",
    "payment-settlement",
    "data-sync-schedule",
}
"""Declared with ``@durable.scheduled``; written when ``runscheduler`` starts."""

WELCOME_ID = "demo-welcome-notification"


# ---------------------------------------------------------------- helpers


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without the suite's own settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in (*SCRUBBED, "PYTHON")}
    env.update({"DJANGO_SETTINGS_MODULE": "example_project.settings", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class Project:
    """The example project on one database: a SQLite file (``path``) or a PostgreSQL
    database (``url``)."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"  # an absolute path gives sqlite:////tmp/...
        self.env = env or {}
        self.last_stderr = ""

    def manage(self, *argv: str) -> str:
        """Run ``manage.py ARGV...``; its stdout (the test fails if it exits non-zero)."""
        done = subprocess.run(
            [sys.executable, str(MANAGE), *argv],
            cwd=ROOT,
            env=child_env(DATABASE_URL=self.url, **self.env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, (
            f"manage.py {' '.join(argv)} exited {done.returncode}"
            f"\n--- stdout:\n{done.stdout}\n--- stderr:\n{done.stderr}"
        )
        self.last_stderr = done.stderr
        return done.stdout

    def shell(self, code: str) -> Any:
        """Run ``code`` in ``manage.py shell``; the JSON it prints on its last line."""
        out = self.manage("shell", "--no-imports", "-c", code)
        return json.loads(out.strip().splitlines()[-1])

    def batch(self, *flags: str) -> str:
        """Run everything enqueued (and, without ``--no-scheduler``, write the code-defined
        schedules and fire what is due first), then exit."""
        return self.manage(
            "runscheduler", "--batch", "--executor-id", "example-test", "-v", "0", *flags
        )

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """The rows of a query (``?`` placeholders), as dicts, read outside Django."""
        if self.path is not None:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as db:
                db.row_factory = sqlite3.Row
                return [dict(row) for row in db.execute(sql, params).fetchall()]
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(self.url, row_factory=dict_row) as db:
            return db.execute(sql.replace("?", "%s"), params).fetchall()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self.rows(sql, *params)]

    def schedules(self) -> dict[str, dict[str, Any]]:
        """Every schedule row by name: every column but ``updated_at``, the context
        decoded."""
        found = {}
        for row in self.rows("SELECT * FROM django_durable_workflowschedule"):
            del row["updated_at"]
            if isinstance(row["context"], str):  # SQLite: JSON text
                row["context"] = json.loads(row["context"])
            row["automatic_backfill"] = bool(row["automatic_backfill"])
            found[row["schedule_name"]] = row
        return found

    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run by id: name, status, schedule, parent, class, config, decoded output
        and error."""
        rows = self.rows(
            "SELECT workflow_id, name, status, schedule_name, parent_id, class_name, "
            "config_name, output, error FROM django_durable_workflowrun"
        )
        return {
            row.pop("workflow_id"): {
                **row,
                "output": serialization.loads(row["output"]) if row["output"] else None,
            }
            for row in rows
        }

    def steps(self, workflow_id: str) -> list[str]:
        return [
            name
            for (name,) in self.query(
                "SELECT step_name FROM django_durable_stepoutput WHERE workflow_id = ? "
                "ORDER BY step_number",
                workflow_id,
            )
        ]

    def metrics(self) -> list[tuple[str, float, str]]:
        return sorted(self.query("SELECT metric_type, value, workflow_id FROM demo_metric"))


PAUSE_ALL = """
import json
from django.utils import timezone
import django_durable as durable
from django_durable.schedules import sync_code_schedules
sync_code_schedules(timezone.now())
print(json.dumps([durable.pause_schedule(s["schedule_name"]) for s in durable.list_schedules()]))
"""

TRIGGER_ALL_BUT_METRICS = """
import json
import django_durable as durable
print(json.dumps({
    s["schedule_name"]: durable.trigger_schedule(s["schedule_name"]).workflow_id
    for s in durable.list_schedules()
    if s["schedule_name"] != "collect-metrics"
}))
"""


def postgresql_url(name: str) -> str:
    """The URL of database ``name`` on the server of this test run's database."""
    db = connection.settings_dict
    user = quote(str(db.get("USER") or ""), safe="")
    password = db.get("PASSWORD")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}@{db.get('HOST') or 'localhost'}{port}/{quote(name, safe='')}"


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    """A fresh database for the example project: a SQLite file; and, when the suite runs
    on PostgreSQL, a database of its own beside the test database, dropped afterwards."""
    if request.param == "sqlite":
        yield Project(path=tmp_path / "example.sqlite3")
        return
    if connection.vendor != "postgresql":
        pytest.skip("the example project on PostgreSQL: set DATABASE_URL=postgres://...")
    import psycopg

    name = f"{connection.settings_dict['NAME']}_demo"
    with psycopg.connect(postgresql_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Project(url=postgresql_url(name))
    finally:
        with psycopg.connect(postgresql_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- the commands


def test_setup_is_idempotent_and_every_demo_workflow_succeeds(project: Project) -> None:
    project.manage("migrate", "--noinput", "-v", "0")
    first = project.manage("setup_demo", "--notification-delay", "0.5")
    assert "Created superuser admin" in first
    assert project.last_stderr == ""  # each line once: no log line repeats the output
    schedules = project.schedules()
    assert set(schedules) == APPLIED | CREATED

    second = project.manage("setup_demo", "--notification-delay", "0.5")
    assert "Superuser admin exists (kept as is)." in second
    for name in CREATED:
        assert f"Schedule {name} exists (kept as is)." in second
    assert f"Welcome notification {WELCOME_ID} exists (not sent again)." in second
    assert project.schedules() == schedules
    assert project.query("SELECT username, is_superuser FROM auth_user") == [("admin", True)]
    assert [(wid, run["status"]) for wid, run in project.runs().items()] == [
        (WELCOME_ID, "ENQUEUED")
    ]

    assert "System check identified no issues (0 silenced)." in project.manage("check")
    assert "No changes detected" in project.manage("makemigrations", "--check", "--dry-run")

    # Every schedule is paused before the first scheduler start, so no slot fires in this
    # test whatever the time: a 15-second or an hourly slot coming due between writing the
    # schedules and the scheduler's tick would add runs and metrics. (The scheduler's start
    # writes the code-defined ones; it keeps them paused; triggering ignores the pause.)
    assert all(project.shell(PAUSE_ALL))
    # The first scheduler start runs the welcome notification (two emails around a
    # durable sleep).
    project.batch()
    schedules = project.schedules()
    assert {row["status"] for row in schedules.values()} == {"PAUSED"}
    assert set(schedules) == APPLIED | CREATED | IN_CODE
    assert schedules["payment-settlement"]["workflow_class_name"] == "PaymentWorkflows"
    assert schedules["payment-settlement"]["cron_timezone"] == "America/New_York"
    assert schedules["data-sync-schedule"]["workflow_class_name"] == "DataSyncWorkflows"
    assert schedules["data-sync-schedule"]["automatic_backfill"] is True
    assert schedules["collect-metrics"]["schedule"] == "*/15 * * * * *"
    assert schedules["production-backup"]["context"]["environment"] == "production"
    assert schedules["staging-backup"]["context"]["retention_days"] == 7
    welcome = project.runs()[WELCOME_ID]
    assert welcome["status"] == "SUCCESS", welcome
    assert welcome["output"].endswith("@mail.example.com>")
    assert project.steps(WELCOME_ID) == ["send_notification", "durable.sleep", "send_notification"]

    # From here on only the workers run: one triggered run per schedule, metrics first
    # (the reports read them).
    (collect_id,) = project.shell(
        "import json, django_durable as durable; "
        "print(json.dumps([durable.trigger_schedule('collect-metrics').workflow_id]))"
    )
    project.batch("--no-scheduler")
    triggered: dict[str, str] = project.shell(TRIGGER_ALL_BUT_METRICS)
    assert set(triggered) == APPLIED | CREATED | IN_CODE - {"collect-metrics"}
    project.batch("--no-scheduler")

    runs = project.runs()
    failed = {wid: run for wid, run in runs.items() if run["status"] != "SUCCESS"}
    assert not failed
    by_schedule = {run["schedule_name"]: run["output"] for run in runs.values()}

    # collect-metrics fanned out one record_metric run per type onto the metrics queue;
    # each wrote one Metric row.
    children = [f"{collect_id}-{number}" for number in (1, 2, 3)]
    assert runs[collect_id]["output"] == children
    assert [runs[wid]["name"] for wid in children] == ["record_metric"] * 3
    assert project.query(
        "SELECT DISTINCT queue_name FROM django_durable_workflowrun WHERE parent_id = ?",
        collect_id,
    ) == [("metrics",)]
    metrics = project.metrics()
    assert sorted((wid, kind) for kind, _, wid in metrics) == list(
        zip(children, METRIC_TYPES, strict=True)
    )
    value = {kind: v for kind, v, _ in metrics}
    assert {runs[wid]["output"] for wid in children} == set(value.values())
    for wid in children:
        assert project.steps(wid) == ["read_metric", "save_metric"]

    # The reports read those three rows.
    total = round(sum(value.values()), 2)
    assert by_schedule["daily-summary"] == {
        "report_type": "Daily Summary",
        "count": 3,
        "total": total,
        "average": round(sum(value.values()) / 3, 2),
    }
    for name, kind, title in (
        ("hourly-ops-report", "operations", "Hourly Operations"),
        ("weekly-executive", "business", "Weekly Executive Summary"),
        ("monthly-financial", "financial", "Monthly Financial"),
    ):
        assert by_schedule[name] == {
            "report_type": title,
            "count": 1,
            "total": value[kind],
            "average": value[kind],
        }, name
    daily = by_schedule["daily-report"]
    assert daily["metrics"] == {kind: {"count": 1, "average": value[kind]} for kind in value}
    assert project.steps(triggered["daily-report"]) == [
        "calculate_metrics",
        "generate_daily_report",
        "send_report_email",
    ]

    # Backups, with their environment from the schedule's context.
    assert by_schedule["nightly-backup"].startswith("production-")
    assert by_schedule["production-backup"].startswith("production-")
    assert by_schedule["staging-backup"].startswith("staging-")
    assert project.steps(triggered["staging-backup"]) == [
        "create_backup",
        "cleanup_old_backups",
        "send_email",
    ]

    # Class-based workflows: static and class methods, and a configured instance's method.
    assert by_schedule["payment-settlement"] == "completed"
    assert runs[f"{triggered['payment-settlement']}-2"]["output"] == "60 USD"
    assert by_schedule["data-sync-schedule"] == {
        "fetched": {"url": "https://api.prod.example.com/customers", "authenticated": True},
        "processed": "production-1-PRODUCTION",
    }
    fetch = runs[f"{triggered['data-sync-schedule']}-1"]
    assert (fetch["name"], fetch["class_name"], fetch["config_name"]) == (
        "APIClient.fetch_data",
        "APIClient",
        "api-https://api.prod.example.com",
    )
    assert by_schedule["hourly-sync"] == {
        "url": "https://api.prod.example.com/external-api/changes",
        "authenticated": True,
    }
    assert by_schedule["daily-cleanup"] == 0  # every metric is younger than 30 days
    assert by_schedule["distributed-task"].startswith("processed ")

    # Nothing runs twice: another batch leaves the runs and the metric rows as they are.
    project.batch("--no-scheduler")
    assert project.runs() == runs
    assert project.metrics() == metrics


def test_setup_demo_twice_leaves_updated_at_alone(tmp_path: Path) -> None:
    project = Project(path=tmp_path / "example.sqlite3")
    project.manage("migrate", "--noinput", "-v", "0")
    project.manage("setup_demo")
    sql = "SELECT schedule_name, updated_at FROM django_durable_workflowschedule"
    before = sorted(project.query(sql))
    project.manage("setup_demo")
    assert sorted(project.query(sql)) == before


CLIENT = """
import json
from django.contrib.auth.models import User
from django.test import Client
import django_durable as durable
if not User.objects.filter(username="admin").exists():
    User.objects.create_superuser("admin", "admin@example.com", "admin")
client = Client(SERVER_NAME="localhost")
client.login(username="admin", password="admin")
"""

FILE_AND_IMPORT = (
    CLIENT
    + """
filed = client.post("/approvals/", {"description": "Taxi", "amount": "42.50"})
started = client.post("/imports/")
print(json.dumps({
    "filed": filed.status_code,
    "expense": [r.workflow_id for r in durable.list_workflows(name="expense_approval")],
    "import": started["Location"].rstrip("/").rsplit("/", 1)[-1],
}))
"""
)

PAGE_DECIDE_AND_STREAM = (
    CLIENT
    + """
expense, import_id = %r, %r
page = client.get("/approvals/").content.decode()
decided = client.post(f"/approvals/{expense}/decide/", {"decision": "approve"})
events = client.get(f"/imports/{import_id}/progress/")
print(json.dumps({
    "page": page,
    "decided": decided.status_code,
    "type": events["Content-Type"],
    "events": b"".join(events.streaming_content).decode(),
}))
"""
)


def test_an_expense_waits_parked_for_its_approval_and_an_import_streams_its_progress(
    tmp_path: Path,
) -> None:
    """The approvals page files an expense; a worker runs it until it waits for a decision
    and parks it; the page's Approve button sends the decision; a worker finishes it. The
    imports page starts an import; its progress view streams server-sent events."""
    project = Project(path=tmp_path / "example.sqlite3", env={"DURABLE_PARK_THRESHOLD": "0.2"})
    project.manage("migrate", "--noinput", "-v", "0")
    started = project.shell(FILE_AND_IMPORT)
    assert started["filed"] == 302
    (expense_id,) = started["expense"]

    project.batch("--no-scheduler")  # the import runs; the expense waits, then parks

    (parked,) = project.rows(
        "SELECT status, waiting_for, wait_key FROM django_durable_workflowrun "
        "WHERE workflow_id = ?",
        expense_id,
    )
    assert parked == {"status": "ENQUEUED", "waiting_for": "message", "wait_key": "approval"}
    shown = project.shell(PAGE_DECIDE_AND_STREAM % (expense_id, started["import"]))
    assert f'id="expense-{expense_id}"' in shown["page"]
    assert "waiting for approval" in shown["page"]
    assert shown["decided"] == 302
    assert shown["type"] == "text/event-stream"
    blocks = shown["events"].strip().split("\n\n")
    assert blocks[0] == 'data: {"done": 1, "of": 10, "rows": 250}'
    assert blocks[9] == 'data: {"done": 10, "of": 10, "rows": 2500}'
    assert blocks[10:] == ['event: end\ndata: {"status": "SUCCESS"}']

    project.batch("--no-scheduler")  # the approval wakes the expense on a worker

    run = project.runs()[expense_id]
    assert (run["status"], run["output"].split()[0]) == ("SUCCESS", "paid"), run
    assert project.steps(expense_id) == [
        "notify_approver",
        "durable.set_event",
        "durable.recv",
        "durable.sleep",
        "pay",
        "durable.set_event",
    ]


# ---------------------------------------------------------------- scripts/demo.sh

STARTUP_TIMEOUT = 600.0
"""Seconds for the first start (it creates .venvs/demo from the package registry)."""
FIRST_RUNS_TIMEOUT = 60.0
"""Seconds for the 15-second schedule to have run once its scheduler is up."""
STOP_TIMEOUT = 15.0
"""Seconds for the script and everything it started to be gone after Ctrl-C."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def session_processes(sid: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of the live processes of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # it ended while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append((int(entry.name), cmdline))
    return found


def get(
    opener: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """GET ``url`` (POST ``data`` if given): status, final URL and body."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with opener.open(url, data=body, timeout=10) as response:
        return response.status, response.geturl(), response.read().decode()


def csrf_token(jar: http.cookiejar.CookieJar) -> str:
    return next(str(cookie.value) for cookie in jar if cookie.name == "csrftoken")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Project, str, Path]]:
    """``bash scripts/demo.sh`` in a session of its own, on a fresh SQLite file and a free
    port; whatever of that session is left after the test is killed."""
    project = Project(path=tmp_path / "demo.sqlite3")
    addr = f"127.0.0.1:{free_port()}"
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # A suite started from a background shell inherits an ignored SIGINT, and a
            # shell cannot trap a signal ignored when it started: restore the default first.
            [
                sys.executable,
                "-c",
                "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                "os.execvp('bash', ['bash', 'scripts/demo.sh'])",
            ],
            cwd=ROOT,
            env=child_env(DATABASE_URL=project.url, DEMO_ADDR=addr),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, project, addr, log
    finally:
        for pid, _ in session_processes(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=STOP_TIMEOUT)


def test_demo_script_serves_the_admin_runs_schedules_and_stops_on_ctrl_c(
    demo: tuple[subprocess.Popen[bytes], Project, str, Path],
) -> None:
    proc, project, addr, log = demo

    def output() -> str:
        return f"\n--- scripts/demo.sh output:\n{log.read_text(errors='replace')}"

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"http://{addr}/admin/login/?next=/admin/"

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        assert proc.poll() is None, f"scripts/demo.sh exited {proc.returncode}.{output()}"
        try:
            status, _, page = get(opener, login_url)
            if status == 200 and "csrfmiddlewaretoken" in page:
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert time.monotonic() < deadline, f"No admin login page at {addr}.{output()}"
        time.sleep(0.5)
    assert f"Admin:  http://{addr}/admin/   login: admin / admin" in log.read_text()

    status, landed, page = get(
        opener,
        login_url,
        {
            "csrfmiddlewaretoken": csrf_token(jar),
            "username": "admin",
            "password": "admin",
            "next": "/admin/",
        },
    )
    assert (status, urllib.parse.urlsplit(landed).path) == (200, "/admin/"), page
    assert "Workflow schedules" in page

    # The 15-second schedule fires, fans out onto the metrics queue, and rows appear.
    deadline = time.monotonic() + FIRST_RUNS_TIMEOUT
    while True:
        done = project.query(
            "SELECT COUNT(*) FROM django_durable_workflowrun "
            "WHERE schedule_name = 'collect-metrics' AND status = 'SUCCESS'"
        )[0][0]
        if done and len(project.metrics()) >= len(METRIC_TYPES):
            break
        assert proc.poll() is None, f"scripts/demo.sh exited {proc.returncode}.{output()}"
        assert time.monotonic() < deadline, f"No collect-metrics run within 60 s.{output()}"
        time.sleep(0.5)
    status, _, page = get(opener, f"http://{addr}/admin/django_durable/workflowrun/")
    assert status == 200
    assert "collect_metrics" in page

    started = session_processes(proc.pid)
    commands = " | ".join(cmd for _, cmd in started)
    assert "manage.py runserver" in commands
    assert "manage.py runscheduler --concurrency 4" in commands

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    try:
        assert proc.wait(timeout=STOP_TIMEOUT) == 130
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/demo.sh still runs {STOP_TIMEOUT}s after SIGINT.{output()}")
    deadline = time.monotonic() + 2.0
    while session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(proc.pid) == [], output()
    assert "Received SIGTERM: draining" in log.read_text()
