"""pytest fixtures for projects that use django_durable (loaded automatically by pytest
through the ``pytest11`` entry point; ``-p no:django_durable`` turns them off).

- ``durable_clock``: a ``SchedulerClock`` starting at the current time.
- ``durable_run_until_idle``: ``django_durable.testing.run_until_idle``.
- ``durable_crash_after_step``: ``django_durable.testing.crash_after_step``.

Nothing here imports Django at collection time, so the plugin is harmless in projects
where Django is not configured; the fixtures need pytest-django's database fixtures
(``db`` or ``transactional_db``) like any test that touches the database.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from django_durable.testing import SchedulerClock


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After each test's body: stop the heartbeat a workflow call started in this process,
    so it does not touch the database during later tests (it starts again with the next
    run). The executor row stays; nothing else of the runtime changes."""
    yield
    runtime = sys.modules.get("django_durable.engine.runtime")
    if runtime is not None:
        runtime.stop_default_heartbeat()


@pytest.fixture
def durable_clock() -> SchedulerClock:
    """A scheduler clock at the current time: ``durable_clock.advance(minutes=5)`` fires
    every slot due in the next five minutes at its own instant."""
    from django_durable.testing import SchedulerClock

    return SchedulerClock()


@pytest.fixture
def durable_run_until_idle() -> Any:
    """``run_until_idle(queues=None, concurrency=4)``: execute what is enqueued until
    nothing is left (needs committed rows: ``django_db(transaction=True)``)."""
    from django_durable.testing import run_until_idle

    return run_until_idle


@pytest.fixture
def durable_crash_after_step() -> Any:
    """``crash_after_step(step, workflow=None)``: a context manager that stops the first
    matching run dead right after its step ``step``; finish it with
    ``django_durable.testing.recover(point.workflow_id)``."""
    from django_durable.testing import crash_after_step

    return crash_after_step
