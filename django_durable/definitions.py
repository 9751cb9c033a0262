"""What a schedule is, and the one validation every entry point shares.

The API, the model's ``clean()``, the admin form and the system checks all call
:func:`errors_of`. Pure Python: no database access.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from django_durable import cron, registry
from django_durable.exceptions import InvalidScheduleError, RegistrationError
from django_durable.registry import FuncType, WorkflowInfo

MAX_NAME_LENGTH = 200
"""Longest schedule name: its run ids (``sched-<name>-trigger-<time>``) must fit in 255."""

INSTANCE_METHOD_ERROR = "Configured instance methods cannot be used as scheduled workflows"


@dataclass(frozen=True, kw_only=True)
class ScheduleDefinition:
    """Everything that defines a schedule (its state, such as pause, is not here)."""

    schedule_name: str
    """Unique name of the schedule."""
    workflow_name: str
    """Registered name of the workflow it runs."""
    workflow_class_name: str | None
    """Registered name of the workflow's durable class, ``None`` for a function."""
    schedule: str
    """Cron expression: 5 fields, or 6 with seconds first."""
    context: Any = None
    """JSON value passed to each run."""
    automatic_backfill: bool = False
    """Whether slots missed while no scheduler ran are enqueued (up to a cap)."""
    cron_timezone: str | None = None
    """IANA timezone the cron is evaluated in; ``None`` is UTC."""
    queue_name: str | None = None
    """Queue the runs go to; ``None`` is the internal queue."""

    def cron(self) -> cron.Cron:
        """The parsed cron (raises ``InvalidScheduleError`` if invalid)."""
        return cron.Cron.parse(self.schedule, self.cron_timezone)


def zone_or_utc(name: str | None) -> tzinfo:
    """The zone to show a schedule's times in: its own, or UTC if unset or unknown."""
    try:
        return cron.zone(name or None)
    except InvalidScheduleError:
        return UTC


def workflow_problem(info: WorkflowInfo, receiver: tuple[Any, ...] = ()) -> str | None:
    """Why ``info`` (called on ``receiver``) cannot be scheduled; ``None`` if it can."""
    if info.func_type is FuncType.INSTANCE or (receiver and not isinstance(receiver[0], type)):
        return INSTANCE_METHOD_ERROR
    try:
        signature = inspect.signature(info.func)
        if info.func_type is FuncType.CLASS:
            signature.bind(None, None, None)
        else:
            signature.bind(None, None)
    except TypeError:
        if info.task is not None:
            return (
                f"Task {info.name!r} cannot be scheduled: a scheduled task takes two "
                f"arguments, (scheduled_at, context), after the task context if it takes one."
            )
        return (
            f"Workflow {info.name!r} cannot be scheduled: a scheduled workflow takes two "
            f"arguments, (scheduled_at, context)."
        )
    except ValueError:
        return None  # no signature to inspect (a builtin); let the call decide
    return None


def _looks_like_task(obj: Any) -> bool:
    """Whether ``obj`` is a ``django.tasks`` ``Task`` (without importing ``django.tasks``)."""
    return isinstance(getattr(obj, "module_path", None), str) and callable(
        getattr(obj, "func", None)
    )


def resolve_workflow(workflow_fn: Any) -> tuple[str, str | None]:
    """``(workflow_name, workflow_class_name)`` of a function to schedule, or a clear error.

    Static and class methods of a ``@durable_class`` record the registered class name. A
    ``django.tasks`` ``Task`` registered by the durable task backend is scheduled under its
    module path.
    """
    task_info = registry.find_task(workflow_fn)
    if task_info is not None:
        info, receiver = task_info, ()
    elif _looks_like_task(workflow_fn):
        raise InvalidScheduleError(
            f"Task {workflow_fn.module_path!r} is not registered with a durable task backend "
            f"in this process; give it a backend whose BACKEND is "
            f"'django_durable.tasks.DurableBackend' (TASKS setting).",
            field="workflow_name",
        )
    else:
        try:
            info, receiver = registry.info_of(workflow_fn)
        except RegistrationError as exc:
            raise InvalidScheduleError(str(exc), field="workflow_name") from None
    problem = workflow_problem(info, receiver)
    if problem is not None:
        raise InvalidScheduleError(problem, field="workflow_name")
    return info.name, info.class_name


def _json_problem(value: Any, path: str = "context") -> str | None:
    """Why ``value`` is not plain JSON (naming the offending part), or ``None``."""
    if value is None or isinstance(value, (bool, str, int)):
        return None
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return f"The context must be plain JSON: {path} is {value!r}, which JSON cannot store."
    if type(value) is list:
        for index, item in enumerate(value):
            problem = _json_problem(item, f"{path}[{index}]")
            if problem is not None:
                return problem
        return None
    if type(value) is dict:
        for key, item in value.items():
            if not isinstance(key, str):
                return (
                    f"The context must be plain JSON: {path} has the key {key!r}; JSON object "
                    f"keys are strings."
                )
            problem = _json_problem(item, f"{path}[{key!r}]")
            if problem is not None:
                return problem
        return None
    return (
        f"The context must be plain JSON (dicts with string keys, lists, strings, numbers, "
        f"booleans, None): {path} is {value!r}, of type {type(value).__name__}."
    )


def errors_of(definition: ScheduleDefinition, *, check_queue: bool = True) -> dict[str, str]:
    """Every problem of ``definition`` by field name; empty if it is valid.

    ``check_queue=False`` skips the queue check (queues are declared at import, so a
    system check of code-defined schedules runs it, not the decorator).
    """
    errors: dict[str, str] = {}
    name = definition.schedule_name
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        errors["schedule_name"] = (
            f"Invalid schedule name {name!r}: a non-empty string without surrounding spaces."
        )
    elif len(name) > MAX_NAME_LENGTH:
        errors["schedule_name"] = (
            f"Schedule name {name!r} is {len(name)} characters; at most {MAX_NAME_LENGTH}."
        )
    elif any(not char.isprintable() for char in name):
        errors["schedule_name"] = f"Schedule name {name!r} contains control characters."
    try:
        cron.zone(definition.cron_timezone)
    except InvalidScheduleError as exc:
        errors["cron_timezone"] = str(exc)
    try:
        cron.Cron.parse(definition.schedule)
    except InvalidScheduleError as exc:
        errors["schedule"] = str(exc)
    info = registry.find_workflow(definition.workflow_name)
    if info is None:
        errors["workflow_name"] = (
            f"Workflow {definition.workflow_name!r} is not registered in this process."
        )
    elif info.class_name != (definition.workflow_class_name or None):
        errors["workflow_name"] = (
            f"Workflow {definition.workflow_name!r} belongs to class {info.class_name!r}, "
            f"not {definition.workflow_class_name!r}."
        )
    else:
        problem = workflow_problem(info)
        if problem is not None:
            errors["workflow_name"] = problem
    if check_queue and definition.queue_name is not None:
        if not registry.queue_exists(definition.queue_name):
            try:
                registry.get_queue(definition.queue_name)
            except RegistrationError as exc:
                errors["queue_name"] = str(exc)
    problem = _json_problem(definition.context)
    if problem is not None:
        errors["context"] = problem
    if not isinstance(definition.automatic_backfill, bool):
        errors["automatic_backfill"] = (
            f"automatic_backfill must be True or False, got {definition.automatic_backfill!r}."
        )
    return errors


def validate(definition: ScheduleDefinition, *, check_queue: bool = True) -> cron.Cron:
    """Raise ``InvalidScheduleError`` (naming the first bad field) unless valid; the cron."""
    errors = errors_of(definition, check_queue=check_queue)
    if errors:
        field, message = next(iter(errors.items()))
        if len(errors) > 1:
            message = " ".join(errors.values())
        raise InvalidScheduleError(message, field=field)
    return definition.cron()
