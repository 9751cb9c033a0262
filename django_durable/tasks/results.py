"""How a task run's row reads as a ``django.tasks`` ``TaskResult``: statuses, priorities,
errors.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.tasks import (
    Task,
    TaskResult,
    TaskResultStatus,
)
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask

from django_durable import error_records, serialization
from django_durable.exceptions import MaxRecoveryAttemptsExceeded, WorkflowCancelled
from django_durable.models import FINISHED, RunStatus, WorkflowRun

STATUS: dict[str, TaskResultStatus] = {
    RunStatus.ENQUEUED: TaskResultStatus.READY,
    RunStatus.PENDING: TaskResultStatus.RUNNING,
    RunStatus.SUCCESS: TaskResultStatus.SUCCESSFUL,
    RunStatus.ERROR: TaskResultStatus.FAILED,
    RunStatus.CANCELLED: TaskResultStatus.FAILED,
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED: TaskResultStatus.FAILED,
}
"""Run status -> task status. A run re-enqueued by recovery is ``READY`` again."""


def task_status(run_status: str) -> TaskResultStatus:
    """The ``TaskResultStatus`` of a run in ``run_status``."""
    return STATUS[run_status]


def run_priority(task_priority: int) -> int:
    """A run's priority for a task's: Django runs higher numbers first (-100 to 100), the
    queues lower numbers first, so the sign flips (task 10 -> run -10)."""
    return -int(task_priority)


def task_priority(run_priority: int) -> int:
    """The task priority of a run's priority (the inverse of :func:`run_priority`)."""
    return -int(run_priority)


class _PlainEncoder(DjangoJSONEncoder):
    """JSON for the arguments shown in a ``TaskResult``: dates and times as their full
    ``isoformat()``, sets as lists, anything else JSON cannot hold as its ``str``."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (datetime, date, time)):
            return o.isoformat()
        if isinstance(o, (set, frozenset)):
            return sorted(o, key=repr)
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def plain(value: Any) -> Any:
    """``value`` as plain JSON types (a scheduled task's ``scheduled_at`` becomes ISO text)."""
    return json.loads(json.dumps(value, cls=_PlainEncoder))


def _class_path(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def errors_of(run: WorkflowRun) -> list[TaskError]:
    """The ``TaskError`` of a failed run (its last error; earlier attempts are not kept)."""
    if run.status == RunStatus.ERROR:
        type_path, message = error_records.error_summary(run.error) or ("builtins.Exception", "")
        traceback = error_records.error_traceback(run.error) or f"{type_path}: {message}\n"
        return [TaskError(exception_class_path=type_path, traceback=traceback)]
    if run.status == RunStatus.CANCELLED:
        return [
            TaskError(
                exception_class_path=_class_path(WorkflowCancelled),
                traceback=f"WorkflowCancelled: run {run.pk!r} was cancelled.\n",
            )
        ]
    if run.status == RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        return [
            TaskError(
                exception_class_path=_class_path(MaxRecoveryAttemptsExceeded),
                traceback=(
                    f"MaxRecoveryAttemptsExceeded: run {run.pk!r} was recovered "
                    f"{run.recovery_attempts} times and given up.\n"
                ),
            )
        ]
    return []


def task_of_run(task: Task[..., Any], run: WorkflowRun) -> Task[..., Any]:
    """``task`` with the priority, queue and ``run_after`` this run was enqueued with.

    The registered task is kept as it is when the run's values are not valid for its
    backend (a scheduled run on the internal queue, say).
    """
    changes: dict[str, Any] = {}
    priority = task_priority(run.priority)
    if priority != task.priority:
        changes["priority"] = priority
    if run.queue_name and run.queue_name != task.queue_name:
        changes["queue_name"] = run.queue_name
    if run.run_after is not None and run.run_after != task.run_after:
        changes["run_after"] = run.run_after
    if not changes:
        return task
    try:
        return task.using(**changes)
    except (InvalidTask, ImproperlyConfigured):
        return task


def task_result(run: WorkflowRun, task: Task[..., Any], backend: str) -> TaskResult[..., Any]:
    """The ``TaskResult`` of a task run's row, read through the backend alias ``backend``."""
    stored = serialization.loads(run.inputs)
    result: TaskResult[..., Any] = TaskResult(
        task=task_of_run(task, run),
        id=str(run.pk),
        status=task_status(run.status),
        enqueued_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.completed_at if run.status in FINISHED else None,
        last_attempted_at=run.started_at,
        args=plain(list(stored["args"])),
        kwargs=plain(dict(stored["kwargs"])),
        backend=backend,
        errors=errors_of(run),
        worker_ids=[run.executor_id] if run.executor_id else [],
    )
    if run.status == RunStatus.SUCCESS:
        object.__setattr__(result, "_return_value", plain(serialization.loads(run.output)))
    return result
