"""The pytest plugin, run as a project would: a test that calls a workflow starts the
default runtime's heartbeat, and the plugin stops it once that test's body is done, so it
never touches the database during later tests (where pytest-django forbids it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.process.children import ROOT, SCRUBBED

pytestmark = pytest.mark.process

INNER = textwrap.dedent(
    """
    import threading

    import pytest

    from tests import workflows


    def heartbeats():
        return [t for t in threading.enumerate() if t.name == "durable-heartbeat"]


    @pytest.mark.django_db(transaction=True)
    def test_a_workflow_call_starts_the_heartbeat():
        workflows.three_steps(1)
        assert heartbeats()


    def test_the_next_test_finds_it_stopped():
        assert heartbeats() == []
    """
)


def test_the_plugin_stops_the_heartbeat_a_test_started(tmp_path):
    inner = tmp_path / "test_inner.py"
    inner.write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env["DURABLE_TEST_DB_SUFFIX"] = f"plugin_{os.getpid()}"  # its own test database
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(inner), "-q", "-p", "no:cacheprovider",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout, result.stdout
    assert "Database access not allowed" not in result.stdout + result.stderr
