"""Waiting for a run's outcome, from a thread or a coroutine: one rule, two drivers.

A run executing in this process wakes its waiters as soon as it is released; others are
polled with a delay that doubles from 5 ms to 250 ms.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django_durable.engine import runs
from django_durable.engine.runtime import Runtime
from django_durable.exceptions import WorkflowNotFound, WorkflowTimeout
from django_durable.models import WorkflowRun

FIRST_DELAY = 0.005
MAX_DELAY = 0.25


class _Wait:
    """The state of one wait: its deadline and its next polling delay."""

    def __init__(self, workflow_id: str, timeout: float | None) -> None:
        self.workflow_id = workflow_id
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.delay = FIRST_DELAY

    def check(self, run: WorkflowRun | None, held_here: bool) -> tuple[bool, float]:
        """``(finished, seconds to wait next)``; raises ``WorkflowTimeout`` when it is up."""
        if run is None and not held_here:
            raise WorkflowNotFound(f"No workflow run has the id {self.workflow_id!r}.")
        if run is not None and run.is_finished:
            return True, 0.0
        remaining = None if self.deadline is None else self.deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WorkflowTimeout(
                f"Workflow {self.workflow_id!r} did not finish within {self.timeout} seconds."
            )
        if held_here:
            pause = 1.0
        else:
            pause, self.delay = self.delay, min(self.delay * 2, MAX_DELAY)
        return False, pause if remaining is None else min(pause, remaining)


def _read(workflow_id: str) -> WorkflowRun | None:
    try:
        return runs.fetch(workflow_id)
    except WorkflowNotFound:
        return None  # the thread holding it may not have inserted its row yet


def wait_outcome(workflow_id: str, timeout: float | None = None, *, runtime: Runtime) -> Any:
    """Block until the run finishes, then return its result or raise its error."""
    wait = _Wait(workflow_id, timeout)
    while True:
        holder = runtime.active(workflow_id)
        run = _read(workflow_id)
        finished, pause = wait.check(run, holder is not None)
        if finished:
            return runs.outcome(run)  # type: ignore[arg-type]
        if holder is not None:
            holder.wait(pause)
        else:
            time.sleep(pause)


async def await_outcome(
    workflow_id: str, timeout: float | None = None, *, runtime: Runtime
) -> Any:
    """``wait_outcome`` for coroutines: waits without blocking the event loop."""
    wait = _Wait(workflow_id, timeout)
    while True:
        holder = runtime.active(workflow_id)
        run = await runtime.run_sync(lambda: _read(workflow_id))
        finished, pause = wait.check(run, holder is not None)
        if finished:
            return runs.outcome(run)  # type: ignore[arg-type]
        if holder is not None:
            await holder.wait_async(pause)
        else:
            await asyncio.sleep(pause)
