"""Fixtures for the process-level tests: children on this test's database, cleaned up."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process.children import MANAGE, SCRUBBED, Child, Spawn, child_database_url


@pytest.fixture
def _children(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start children on this test's database (with their stderr in ``tmp_path``); kills
    the ones still running after the test."""
    children: list[Child] = []
    url = child_database_url()

    def start(
        argv: list[str],
        *,
        executor_id: str,
        env: dict[str, str] | None,
        stdin: bool = False,
        program: list[str] | None = None,
    ) -> Child:
        child_env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        child_env.update({"DATABASE_URL": url, "PYTHONUNBUFFERED": "1", "DURABLE_TEST_CHILD": "1"})
        child_env.update(env or {})
        stderr_path = tmp_path / f"child-{len(children)}-{executor_id}.stderr"
        child = Child(
            argv,
            executor_id=executor_id,
            env=child_env,
            stderr_path=stderr_path,
            stdin=stdin,
            program=program,
        )
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.close()


@pytest.fixture
def spawn(_children: Callable[..., Child]) -> Spawn:
    """Start ``run_workflow.py`` children on this test's database; kills leftovers after."""

    def start(
        *argv: str,
        executor_id: str,
        env: dict[str, str] | None = None,
        wait_for_go: bool = False,
    ) -> Child:
        flags = ["--executor-id", executor_id] + (["--wait-for-go"] if wait_for_go else [])
        return _children([*flags, *argv], executor_id=executor_id, env=env, stdin=wait_for_go)

    return start


@pytest.fixture
def spawn_worker(_children: Callable[..., Child]) -> Spawn:
    """Start ``manage.py runscheduler --settings tests.settings --executor-id ID ARGV...``
    children on this test's database; kills leftovers after."""

    def start(*argv: str, executor_id: str, env: dict[str, str] | None = None) -> Child:
        return _children(
            ["runscheduler", "--settings", "tests.settings", "--executor-id", executor_id, *argv],
            executor_id=executor_id,
            env=env,
            program=[sys.executable, str(MANAGE)],
        )

    return start


@pytest.fixture
def executor_id() -> Callable[[str], str]:
    """Unique executor ids per test, so no run of another test is ever recovered."""
    token = uuid.uuid4().hex[:8]
    return lambda role: f"proc-{role}-{token}"
