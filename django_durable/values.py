"""Frozen value objects handed to callers (never model instances)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class WorkflowStatus:
    """A snapshot of one run, as ``retrieve_workflow(...).get_status()`` returns it."""

    workflow_id: str
    """The run's id."""
    status: str
    """ENQUEUED, PENDING, SUCCESS, ERROR, CANCELLED or MAX_RECOVERY_ATTEMPTS_EXCEEDED."""
    name: str
    """The registered workflow name."""
    class_name: str | None
    """The registered durable class name, for methods."""
    config_name: str | None
    """The configured instance's name, for instance methods."""
    input: dict[str, Any] | None
    """``{"args": [...], "kwargs": {...}}`` as the run was called (``None`` if unreadable)."""
    output: Any
    """The returned value, once ``SUCCESS``."""
    error: BaseException | None
    """The raised exception, once ``ERROR``."""
    executor_id: str | None
    """The process that runs (or ran) it."""
    recovery_attempts: int
    """How often it was taken over after its executor died."""
    queue_name: str | None
    """The queue it was enqueued on."""
    priority: int
    """Its queue priority (lower first)."""
    deduplication_id: str | None
    """Its queue deduplication id."""
    schedule_name: str | None
    """The schedule that fired it."""
    parent_workflow_id: str | None
    """The run that started it, for child workflows."""
    app_version: str | None = None
    """The application version it runs under (``None``: any worker may run it)."""
    queue_partition_key: str | None = None
    """Its partition of a partitioned queue."""
    forked_from: str | None = None
    """The run it was forked from."""
    created_at: datetime
    """When the run row was written."""
    updated_at: datetime
    """When the run row last changed."""
    started_at: datetime | None
    """When a process started executing it."""
    completed_at: datetime | None
    """When it finished."""
    timeout_seconds: float | None = None
    """Its ``SetWorkflowTimeout``, if it has one."""
    deadline: datetime | None = None
    """When it is cancelled if it has not finished (its own timeout or its parent's)."""


@dataclass(frozen=True, kw_only=True)
class StepStatus:
    """The step running in this context, as ``step_status()`` returns it."""

    step_id: int
    """The step's number in its run."""
    current_attempt: int | None
    """For a step with retries, the attempt running now, from 0; else ``None``."""
    max_attempts: int | None
    """For a step with retries, how many attempts it may make; else ``None``."""
