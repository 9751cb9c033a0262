"""Per-call state: the workflow being run, the step being run, and options for the next start.

Pure Python built on ``contextvars``, so it follows threads started with a copied context
and ``async`` tasks alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django_durable.exceptions import NonDeterministicWorkflowError, WorkflowCancelled


@dataclass(frozen=True, kw_only=True)
class RecordedStep:
    """A step outcome loaded from the database for replay."""

    step_number: int
    """Position of the step in the run, from 1."""
    step_name: str
    """The name the step had when it was recorded."""
    output: str | None
    """Tagged JSON of the returned value."""
    error: str | None
    """Encoded exception, when the step failed."""
    child_workflow_id: str | None
    """The child run this step started, if any."""


@dataclass(eq=False)
class WorkflowState:
    """The mutable state of one run while this process executes it."""

    workflow_id: str
    name: str
    executor_id: str
    recorded: dict[int, RecordedStep] = field(default_factory=dict)
    last_step: int = 0
    current_step: int | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)

    def next_step(self) -> int:
        self.last_step += 1
        return self.last_step

    def replayed(self, step_number: int, step_name: str) -> RecordedStep | None:
        """The recorded outcome of ``step_number``, checking it was the same step."""
        recorded = self.recorded.get(step_number)
        if recorded is not None and recorded.step_name != step_name:
            raise NonDeterministicWorkflowError(
                f"Workflow {self.workflow_id!r} is not deterministic: step {step_number} "
                f"was recorded as {recorded.step_name!r} but replay called {step_name!r}."
            )
        return recorded

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise WorkflowCancelled(f"Workflow {self.workflow_id!r} was cancelled.")


@dataclass(frozen=True, kw_only=True)
class EnqueueOptions:
    """Options that ``SetEnqueueOptions`` applies to the enqueues inside its block."""

    priority: int | None = None
    """Lower runs first; FIFO within a priority."""
    deduplication_id: str | None = None
    """At most one active run per queue with this id."""


_state: ContextVar[WorkflowState | None] = ContextVar("durable_workflow_state", default=None)
_next_id: ContextVar[list[str] | None] = ContextVar("durable_next_workflow_id", default=None)
_enqueue: ContextVar[EnqueueOptions | None] = ContextVar("durable_enqueue_options", default=None)


def current() -> WorkflowState | None:
    """The state of the run executing in this context, or ``None``."""
    return _state.get()


@contextmanager
def running(state: WorkflowState) -> Iterator[WorkflowState]:
    token = _state.set(state)
    try:
        yield state
    finally:
        _state.reset(token)


@contextmanager
def in_step(state: WorkflowState, step_number: int) -> Iterator[None]:
    previous = state.current_step
    state.current_step = step_number
    try:
        yield
    finally:
        state.current_step = previous


def workflow_id() -> str | None:
    """The id of the workflow running in this context (``None`` outside a workflow)."""
    state = _state.get()
    return state.workflow_id if state else None


def step_id() -> int | None:
    """The number of the step running in this context (``None`` outside a step)."""
    state = _state.get()
    return state.current_step if state else None


class SetWorkflowID:
    """``with SetWorkflowID("order-42"):`` gives the next workflow started inside that id."""

    def __init__(self, workflow_id: str) -> None:
        if not isinstance(workflow_id, str) or not workflow_id:
            raise ValueError(f"A workflow id must be a non-empty string, got {workflow_id!r}.")
        self.workflow_id = workflow_id
        self._token: Any = None

    def __enter__(self) -> SetWorkflowID:
        self._token = _next_id.set([self.workflow_id])
        return self

    def __exit__(self, *exc: object) -> None:
        _next_id.reset(self._token)


def take_workflow_id() -> str | None:
    """Consume the id set by the innermost ``SetWorkflowID`` (once)."""
    holder = _next_id.get()
    if holder:
        return holder.pop()
    return None


class SetEnqueueOptions:
    """``with SetEnqueueOptions(priority=1, deduplication_id="x"):`` applies to every
    enqueue inside the block."""

    def __init__(self, *, priority: int | None = None, deduplication_id: str | None = None):
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise ValueError(f"priority must be an int, got {priority!r}.")
        if deduplication_id is not None and (
            not isinstance(deduplication_id, str) or not deduplication_id
        ):
            raise ValueError(
                f"deduplication_id must be a non-empty string, got {deduplication_id!r}."
            )
        self.options = EnqueueOptions(priority=priority, deduplication_id=deduplication_id)
        self._token: Any = None

    def __enter__(self) -> SetEnqueueOptions:
        self._token = _enqueue.set(self.options)
        return self

    def __exit__(self, *exc: object) -> None:
        _enqueue.reset(self._token)


def enqueue_options() -> EnqueueOptions | None:
    return _enqueue.get()
