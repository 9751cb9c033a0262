"""Per-call state: the run being executed, the step being run, options for the next start.

Pure Python built on ``contextvars``: every value lives in a ``ContextVar`` set and reset
with its token, so concurrent ``asyncio`` tasks of one workflow (``gather``, ``TaskGroup``,
``create_task``) and threads started with a copy of the context each see their own current
step, while sharing their run.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django_durable.exceptions import (
    NonDeterministicWorkflowError,
    WorkflowCancelled,
)


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


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A step outcome to write: one ``StepOutput`` row."""

    step_number: int
    """Position of the step in the run."""
    step_name: str
    """The step's name."""
    output: str | None = None
    """Tagged JSON of the returned value."""
    error: str | None = None
    """Encoded exception."""
    child_workflow_id: str | None = None
    """The child run this step started."""
    started_at: Any = None
    """When the step's body started (``None`` for markers)."""
    completed_at: Any = None
    """When it ended."""


@dataclass(eq=False)
class RunContext:
    """One run while this process executes it: shared by every task and thread of the run.

    Step numbers are handed out in call order under a lock. ``held`` keeps the checkpoints
    of completed steps that may still wait for the run's next durable action (they are
    written before the next step's body runs, or with the run's outcome).
    """

    workflow_id: str
    name: str
    executor_id: str
    runtime: Any
    """The ``Runtime`` executing the run."""
    recorded: dict[int, RecordedStep] = field(default_factory=dict)
    is_async: bool = False
    cancel_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_number: int = 0
    in_flight: int = 0
    """Steps of this run whose bodies are running now."""
    held: list[Checkpoint] = field(default_factory=list)
    hold_seconds: float = 0.0
    """How long a completed step's checkpoint may wait for the run's next write."""
    flush_scheduled: bool = False
    """The runtime's flusher will look at this run's held checkpoints."""
    flushing: bool = False
    """The runtime's flusher is writing held checkpoints right now."""
    flushed: threading.Condition = field(init=False)
    finished: bool = False
    """Set once the run's execution here has ended."""
    deadline: Any = None
    """When the run times out (an aware datetime), if it has a deadline."""
    parkable: bool = False
    """A worker executes it: a long wait parks it on its queue instead of holding a thread."""
    waits: int = 0
    """Waits (sleeps, receives) of this run in progress; only a lone wait may park."""
    cancel_reason: str | None = None
    """Why ``cancel_event`` was set, when it was not a plain cancel (a timeout)."""

    def __post_init__(self) -> None:
        self.flushed = threading.Condition(self.lock)

    def next_number(self) -> int:
        """The next step number, in call order (thread-safe)."""
        with self.lock:
            self.last_number += 1
            return self.last_number

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
            raise WorkflowCancelled(
                self.cancel_reason or f"Workflow {self.workflow_id!r} was cancelled."
            )


@dataclass(frozen=True, kw_only=True)
class EnqueueOptions:
    """Options that ``SetEnqueueOptions`` applies to the enqueues inside its block."""

    priority: int | None = None
    """Lower runs first; FIFO within a priority."""
    deduplication_id: str | None = None
    """At most one active run per queue with this id."""
    queue_partition_key: str | None = None
    """The partition of a partitioned queue the runs go to."""
    app_version: str | None = None
    """The application version the runs record (default: this process's)."""
    delay_seconds: float | None = None
    """The run is not started before this many seconds after its enqueue."""
    deduplication_policy: str = "reject"
    """On a duplicate: ``"reject"`` raises, ``"return_existing"`` returns the active run."""


DEDUPLICATION_POLICIES = ("reject", "return_existing")


@dataclass(frozen=True)
class Timeout:
    """What ``SetWorkflowTimeout`` set for the starts inside its block."""

    seconds: float | None
    """The timeout, or ``None``: no deadline (not even the parent's)."""


_run: ContextVar[RunContext | None] = ContextVar("durable_run", default=None)
_step: ContextVar[int | None] = ContextVar("durable_step", default=None)
_next_id: ContextVar[list[str] | None] = ContextVar("durable_next_workflow_id", default=None)
_enqueue: ContextVar[EnqueueOptions | None] = ContextVar("durable_enqueue_options", default=None)
_attempt: ContextVar[tuple[int, int] | None] = ContextVar("durable_step_attempt", default=None)
_timeout: ContextVar[Timeout | None] = ContextVar("durable_workflow_timeout", default=None)


def current() -> RunContext | None:
    """The run executing in this context (inside its steps too), or ``None``."""
    return _run.get()


def workflow_body() -> RunContext | None:
    """The run whose body (not one of its steps) is executing in this context, or ``None``.

    Durable actions (steps, child workflows, sleeps, recorded calls) are recorded only
    from a workflow's body; inside a step they are plain calls.
    """
    run = _run.get()
    if run is None or _step.get() is not None:
        return None
    return run


@contextmanager
def running(run: RunContext) -> Iterator[RunContext]:
    """Execute ``run``'s body in this context (no step is current in it, and the caller's
    ``SetWorkflowTimeout`` does not apply to its children: they inherit its deadline)."""
    run_token = _run.set(run)
    step_token = _step.set(None)
    timeout_token = _timeout.set(None)
    try:
        yield run
    finally:
        _timeout.reset(timeout_token)
        _step.reset(step_token)
        _run.reset(run_token)


@contextmanager
def in_step(step_number: int) -> Iterator[None]:
    """Run a step's body: ``step_id()`` is ``step_number`` and durable calls are plain."""
    token = _step.set(step_number)
    try:
        yield
    finally:
        _step.reset(token)


@contextmanager
def in_attempt(attempt: int, max_attempts: int) -> Iterator[None]:
    """Run one attempt of a step with retries (``attempt`` from 0)."""
    token = _attempt.set((attempt, max_attempts))
    try:
        yield
    finally:
        _attempt.reset(token)


def step_status() -> Any:
    """The step running in this context as a ``StepStatus`` (its number, and for a step
    with retries its attempt from 0 and its maximum); ``None`` outside a step."""
    from django_durable.values import StepStatus

    number = step_id()
    if number is None:
        return None
    attempt = _attempt.get()
    return StepStatus(
        step_id=number,
        current_attempt=attempt[0] if attempt else None,
        max_attempts=attempt[1] if attempt else None,
    )


def workflow_id() -> str | None:
    """The id of the workflow running in this context (``None`` outside a workflow)."""
    run = _run.get()
    return run.workflow_id if run else None


def step_id() -> int | None:
    """The number of the step running in this context (``None`` outside a step)."""
    return _step.get() if _run.get() is not None else None


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


def _optional_text(value: Any, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{what} must be a non-empty string, got {value!r}.")
    return value


def _seconds(value: Any, what: str, *, positive: bool) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{what} must be a number of seconds {bound}, got {value!r}.")
    return float(value)


class SetEnqueueOptions:
    """``with SetEnqueueOptions(priority=1, deduplication_id="x"):`` applies to every
    enqueue inside the block (``Queue.enqueue`` and tasks); ``start_workflow``, which uses
    no queue, is refused inside it. ``queue_partition_key`` picks the partition of a
    partitioned queue; ``app_version`` the application version the runs record.

    ``delay_seconds``: the runs start no earlier than that long after their enqueue.
    ``deduplication_policy``: what an enqueue whose ``deduplication_id`` is taken by an
    active run of its queue does: ``"reject"`` raises ``QueueDeduplicatedError``,
    ``"return_existing"`` returns a handle to that run (its arguments are discarded).
    """

    def __init__(
        self,
        *,
        priority: int | None = None,
        deduplication_id: str | None = None,
        queue_partition_key: str | None = None,
        app_version: str | None = None,
        delay_seconds: float | None = None,
        deduplication_policy: str = "reject",
    ):
        if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise ValueError(f"priority must be an int, got {priority!r}.")
        _optional_text(deduplication_id, "deduplication_id")
        _optional_text(queue_partition_key, "queue_partition_key")
        _optional_text(app_version, "app_version")
        if deduplication_id is not None and queue_partition_key is not None:
            raise ValueError(
                "deduplication_id cannot be combined with queue_partition_key: "
                "partitioned queues do not de-duplicate."
            )
        delay = _seconds(delay_seconds, "delay_seconds", positive=False)
        if deduplication_policy not in DEDUPLICATION_POLICIES:
            raise ValueError(
                f"deduplication_policy must be 'reject' or 'return_existing', got "
                f"{deduplication_policy!r}."
            )
        if deduplication_policy == "return_existing" and deduplication_id is None:
            raise ValueError(
                "deduplication_policy='return_existing' needs a deduplication_id: it returns "
                "the active run that holds that id."
            )
        self.options = EnqueueOptions(
            priority=priority,
            deduplication_id=deduplication_id,
            delay_seconds=delay,
            deduplication_policy=deduplication_policy,
            queue_partition_key=queue_partition_key,
            app_version=app_version,
        )
        self._token: Any = None

    def __enter__(self) -> SetEnqueueOptions:
        self._token = _enqueue.set(self.options)
        return self

    def __exit__(self, *exc: object) -> None:
        _enqueue.reset(self._token)


def enqueue_options() -> EnqueueOptions | None:
    return _enqueue.get()


class SetWorkflowTimeout:
    """``with SetWorkflowTimeout(600):`` gives the runs started or enqueued inside its block
    a deadline: ``seconds`` after they start (a queued run: after a worker starts it). At
    the deadline the run and its children end ``CANCELLED``. Child workflows inherit their
    parent's deadline; ``SetWorkflowTimeout(None)`` starts runs without one."""

    def __init__(self, seconds: float | None) -> None:
        self.timeout = Timeout(_seconds(seconds, "The workflow timeout", positive=True))
        self._token: Any = None

    def __enter__(self) -> SetWorkflowTimeout:
        self._token = _timeout.set(self.timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        _timeout.reset(self._token)


def workflow_timeout() -> Timeout | None:
    """The innermost ``SetWorkflowTimeout`` of this context, or ``None``."""
    return _timeout.get()
