"""SQLite on Django's defaults: the ``DATABASES`` of a fresh ``startproject`` (no OPTIONS),
direct calls from one process while ``runscheduler`` drains queued runs beside it. The
library sets what it needs on its own connections and transactions: no call fails with
"database is locked".
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.process.children import DEADLINE, MANAGE, ROOT, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="SQLite on its defaults: the SQLite stage"
    ),
]

RUNS = 200
SETTINGS = "tests.process.sqlite_defaults_settings"


def statuses(path: Path) -> dict[str, int]:
    with sqlite3.connect(path, timeout=30) as db:
        rows = db.execute(
            "SELECT status, COUNT(*) FROM django_durable_workflowrun GROUP BY status"
        ).fetchall()
    return dict(rows)


def test_direct_calls_beside_a_draining_runscheduler_never_fail(_children, tmp_path):
    path = tmp_path / "db.sqlite3"
    env = {"DURABLE_TEST_SQLITE_PATH": str(path)}
    migrate = subprocess.run(
        [sys.executable, str(MANAGE), "migrate", "--settings", SETTINGS, "-v", "0"],
        cwd=ROOT,
        env={**_clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr

    caller = _children(
        ["--enqueue", str(RUNS), "--calls", str(RUNS), "--threads", "4"],
        executor_id="shell",
        env=env,
        stdin=True,
        program=[sys.executable, str(ROOT / "tests" / "process" / "direct_calls.py")],
    )
    caller.expect("ready", timeout=120)
    worker = _children(
        ["runscheduler", "--settings", SETTINGS, "--no-scheduler", "-v", "2"],
        executor_id="worker",
        env=env,
        program=[sys.executable, str(MANAGE)],
    )
    caller.go()
    done = caller.expect("done", timeout=300)
    assert (done["error_count"], done["results"]) == (0, RUNS), caller.describe()
    assert caller.finish() == 0, caller.describe()

    wait_until(
        lambda: statuses(path).get("SUCCESS") == 2 * RUNS,
        f"the {RUNS} queued runs drained",
        timeout=max(DEADLINE, 300),
        diagnostics=lambda: f"{statuses(path)}{worker.describe()}",
    )
    worker.signal(signal.SIGTERM)
    assert worker.finish() == 0, worker.describe()
    assert statuses(path) == {"SUCCESS": 2 * RUNS}
    log = worker.stderr()
    assert "locked" not in log and "interrupted" not in log, worker.describe()


def _clean_env() -> dict[str, str]:
    import os

    from tests.process.children import SCRUBBED

    return {k: v for k, v in os.environ.items() if k not in SCRUBBED and k != "DATABASE_URL"}
