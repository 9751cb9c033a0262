"""Fixtures for the queue, worker and runscheduler tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from tests import workflows
from tests.integration.workers import WorkerThread, run_worker


@pytest.fixture
def worker_id() -> Iterator[str]:
    """A unique executor id for an in-process ``Worker`` (which makes its own runtime)."""
    yield f"worker-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(worker_id: str) -> Callable[..., int]:
    """``worker(*queue_names, **kwargs)``: run a ``Worker`` with the ``worker_id`` in this
    thread until it returns (batch mode unless ``max_runs`` is given); the runs it claimed."""
    return partial(run_worker, executor_id=worker_id)


@pytest.fixture
def worker_thread(worker_id: str) -> Iterator[Callable[..., WorkerThread]]:
    """Start ``WorkerThread``s (executor id ``worker_id`` unless given); after the test the
    gate of ``waits_for_gate`` is opened and each worker is stopped."""
    started: list[WorkerThread] = []

    def start(**kwargs: Any) -> WorkerThread:
        kwargs.setdefault("executor_id", worker_id)
        started.append(WorkerThread(**kwargs))
        return started[-1]

    yield start
    workflows.GATE.set()
    for item in started:
        item.stop()
