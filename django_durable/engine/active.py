"""Runs this process is executing right now: one executor per workflow id per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from django_durable.context import WorkflowState


@dataclass(eq=False)
class ActiveRun:
    """A run that a thread of this process holds."""

    done: threading.Event = field(default_factory=threading.Event)
    state: WorkflowState | None = None


_lock = threading.Lock()
_runs: dict[str, ActiveRun] = {}


def try_acquire(workflow_id: str) -> ActiveRun | None:
    """Hold ``workflow_id`` for the calling thread; ``None`` if another thread holds it."""
    with _lock:
        if workflow_id in _runs:
            return None
        active = _runs[workflow_id] = ActiveRun()
        return active


def release(workflow_id: str, active: ActiveRun) -> None:
    with _lock:
        if _runs.get(workflow_id) is active:
            del _runs[workflow_id]
    active.done.set()


def get(workflow_id: str) -> ActiveRun | None:
    with _lock:
        return _runs.get(workflow_id)


def request_cancel(workflow_id: str) -> None:
    """Make the steps of an executing run stop at their next boundary."""
    with _lock:
        active = _runs.get(workflow_id)
    if active is not None and active.state is not None:
        active.state.cancel_event.set()
