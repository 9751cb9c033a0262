"""Fixtures for the process-level tests: children on this test's database, cleaned up."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process.children import SCRUBBED, Child, Spawn, child_database_url


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``run_workflow.py`` children on this test's database; kills leftovers after."""
    children: list[Child] = []
    url = child_database_url()

    def start(
        *argv: str,
        executor_id: str,
        env: dict[str, str] | None = None,
        wait_for_go: bool = False,
    ) -> Child:
        child_env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        child_env.update({"DATABASE_URL": url, "PYTHONUNBUFFERED": "1"})
        child_env.update(env or {})
        flags = ["--executor-id", executor_id] + (["--wait-for-go"] if wait_for_go else [])
        stderr_path = tmp_path / f"child-{len(children)}-{executor_id}.stderr"
        child = Child(
            [*flags, *argv],
            executor_id=executor_id,
            env=child_env,
            stderr_path=stderr_path,
            stdin=wait_for_go,
        )
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.close()


@pytest.fixture
def executor_id() -> Callable[[str], str]:
    """Unique executor ids per test, so no run of another test is ever recovered."""
    token = uuid.uuid4().hex[:8]
    return lambda role: f"proc-{role}-{token}"
