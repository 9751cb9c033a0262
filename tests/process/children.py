"""Helpers for real worker processes on the test database: start, watch, kill.

Two kinds of children: ``run_workflow.py`` (JSON events on stdout) and ``manage.py
runscheduler`` (queue workers; plain text on stdout, see ``Child.expect_line``).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "process" / "run_workflow.py"
MANAGE = ROOT / "manage.py"

DEADLINE = 30.0
"""Seconds any wait may take before the test fails (a healthy wait takes well under 1 s)."""

POLL = 0.02
"""Seconds between two looks at the database."""

# Variables of the test process that must not leak into a child unless a test sets them.
SCRUBBED = (
    "DURABLE_TEST_BREAK_LOOP",
    "DURABLE_TEST_CRASH_AFTER_STEP_2",
    "DURABLE_TEST_SELF_KILL",
    "DURABLE_TEST_EXECUTOR_ID",
    "DURABLE_TEST_DEAD_EXECUTOR_TIMEOUT",
    "DURABLE_TEST_HEARTBEAT_INTERVAL",
    "DURABLE_TEST_POLL_INTERVAL",
    "DURABLE_TEST_PARK_THRESHOLD",
    "DURABLE_TEST_HANG_AFTER_RECV",
    "DJANGO_SETTINGS_MODULE",
)


def child_database_url() -> str:
    """``DATABASE_URL`` of the database this test uses right now (the test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if not os.path.isabs(name):
            raise RuntimeError(f"process tests need a SQLite file, got NAME={name!r}")
        return f"sqlite:///{name}"  # an absolute path gives sqlite:////tmp/...
    if connection.vendor == "postgresql":
        user = quote(str(db.get("USER") or ""), safe="")
        password = db.get("PASSWORD")
        auth = f"{user}:{quote(str(password), safe='')}" if password else user
        host = db.get("HOST") or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{quote(str(db['NAME']), safe='')}"
    raise RuntimeError(f"process tests do not support the {connection.vendor!r} backend")


def wait_until(
    predicate: Callable[[], Any],
    what: str,
    *,
    timeout: float = DEADLINE,
    diagnostics: Callable[[], str] = lambda: "",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout}s waiting for {what}.{diagnostics()}")
        time.sleep(POLL)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, step in edges:  # at equal times an end (-1) sorts before a start (+1)
        current += step
        peak = max(peak, current)
    return peak


class Child:
    """One child process: its stdout lines as events (JSON objects, or ``{"event": "noise",
    "line": ...}`` for other lines), its stderr in a file.

    ``program`` is what runs (default: ``run_workflow.py``); ``argv`` follows it.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        executor_id: str,
        env: dict[str, str],
        stderr_path: Path,
        stdin: bool,
        program: list[str] | None = None,
    ):
        self.argv = argv
        self.executor_id = executor_id
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [*(program or [sys.executable, str(SCRIPT)]), *argv],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name=f"child-{self.pid}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {"event": "noise", "line": line}
                self.events.put(event)
        except (OSError, ValueError):  # closed under us during cleanup
            pass
        finally:
            self.events.put(None)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        """What went on in the child, for assertion messages."""
        return (
            f"\n--- child {self.pid} {self.argv} (exit {self.proc.poll()})"
            f"\n--- events: {self.seen}"
            f"\n--- stderr:\n{self.stderr()}"
        )

    def expect(self, event: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next ``event`` line; fail if the child ends or stays silent too long."""
        return self._next(lambda item: item.get("event") == event, repr(event), timeout)

    def expect_line(self, text: str, timeout: float = DEADLINE) -> str:
        """The next plain (non-JSON) stdout line that contains ``text``."""
        item = self._next(
            lambda item: text in str(item.get("line", "")), f"a line with {text!r}", timeout
        )
        return str(item["line"])

    def _next(
        self, wanted: Callable[[dict[str, Any]], bool], what: str, timeout: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                item = self.events.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                pytest.fail(f"Child printed no {what} within {timeout}s.{self.describe()}")
            if item is None:
                self.events.put(None)  # stay at end of output for later calls
                self.proc.wait(timeout=DEADLINE)
                pytest.fail(f"Child ended without printing {what}.{self.describe()}")
            self.seen.append(item)
            if wanted(item):
                return item

    def signal(self, signum: int) -> None:
        """Send ``signum`` (the child must still be running)."""
        assert self.proc.poll() is None, f"The child already ended.{self.describe()}"
        os.kill(self.pid, signum)

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL, and wait until the process is gone."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=DEADLINE)

    def finish(self, timeout: float = DEADLINE) -> int:
        """Wait for a normal exit; fail (after killing it) if it takes too long."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            self.kill()
            pytest.fail(f"Child did not exit within {timeout}s.{self.describe()}")

    def dump_stacks(self) -> None:
        """Have the child write every thread's stack to its stderr (see tests/apps.py)."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGUSR1)
            time.sleep(0.5)

    def close(self) -> None:
        self.kill()
        self._reader.join(timeout=DEADLINE)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:  # stdin of a dead process: broken pipe on flush
                    pass
        self._stderr.close()


Spawn = Callable[..., Child]
