"""What a schedule is, and the one validation every entry point shares.

The API, the model's ``clean()``, the admin form and the system checks all call
:func:`errors_of`. Pure Python: no database access.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from django_durable import conf, cron, registry
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

    def same_as(self, other: ScheduleDefinition) -> bool:
        """Whether ``other`` defines the same schedule (contexts compared as JSON, so
        ``1`` and ``True`` differ)."""
        return self._compared() == other._compared()

    def retimes(self, other: ScheduleDefinition) -> bool:
        """Whether going from this definition to ``other`` changes when it fires (its cron
        or timezone): the schedule then fires from its first slot after the change."""
        return (self.schedule, self.cron_timezone or None) != (
            other.schedule,
            other.cron_timezone or None,
        )

    def _compared(self) -> tuple[Any, ...]:
        return (
            self.schedule_name,
            self.workflow_name,
            self.workflow_class_name or None,
            self.schedule,
            json.dumps(self.context, sort_keys=True, default=repr),
            self.automatic_backfill,
            self.cron_timezone or None,
            self.queue_name or None,
        )


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


MAX_CONTEXT_DEPTH = 100
"""Deepest nesting of lists and dicts in a context (JSON parsers, and Python reading it
back, recurse once per level)."""

MIN_CONTEXT_INT, MAX_CONTEXT_INT = -(2**63), 2**63 - 1
"""The integers a context may hold: 64-bit, which every JSON reader keeps exactly."""

MAX_CRON_LENGTH = 255
"""Longest cron expression (the column's size)."""

_SURROGATES = re.compile("[\ud800-\udfff]")


def _text_problem(text: str, where: str) -> str | None:
    if "\x00" in text:
        return f"The context must be plain JSON: {where} contains a NUL character (\\x00)."
    if _SURROGATES.search(text):
        return (
            f"The context must be plain JSON: {where} contains a lone surrogate code point, "
            f"which UTF-8 cannot encode."
        )
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _path(parts: tuple[str | int, ...]) -> str:
    return "context" + "".join(f"[{part!r}]" for part in parts)


def _json_problem(value: Any) -> str | None:
    """Why ``value`` is not a context every database stores and reads back exactly (naming
    the offending part), or ``None``. Walks the value without recursion."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while pending:
        item, parts = pending.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            problem = _text_problem(item, _path(parts))
        elif isinstance(item, int):
            problem = None
            if not MIN_CONTEXT_INT <= item <= MAX_CONTEXT_INT:
                problem = (
                    f"The context must be plain JSON: {_path(parts)} is an integer of "
                    f"{item.bit_length()} bits; integers must fit in 64 bits (from -2**63 "
                    f"to 2**63 - 1). Store larger numbers as strings."
                )
        elif isinstance(item, float):
            problem = None
            if not math.isfinite(item):
                problem = (
                    f"The context must be plain JSON: {_path(parts)} is {item!r}, which JSON "
                    f"cannot store."
                )
        elif type(item) is list or type(item) is dict:
            if len(parts) >= MAX_CONTEXT_DEPTH:
                return (
                    f"The context is nested more than {MAX_CONTEXT_DEPTH} levels deep (at "
                    f"{_path(parts[:3])}...)."
                )
            if isinstance(item, list):
                pending.extend((child, (*parts, index)) for index, child in enumerate(item))
                continue
            for key, child in item.items():
                if not isinstance(key, str):
                    return (
                        f"The context must be plain JSON: {_path(parts)} has the key "
                        f"{key!r}; JSON object keys are strings."
                    )
                problem = _text_problem(key, f"the key {key!r} of {_path(parts)}")
                if problem is not None:
                    return problem
                pending.append((child, (*parts, key)))
            continue
        else:
            problem = (
                f"The context must be plain JSON (dicts with string keys, lists, strings, "
                f"numbers, booleans, None): {_path(parts)} is {_short(item)}, of type "
                f"{type(item).__name__}."
            )
        if problem is not None:
            return problem
    return None


def context_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a schedule's context, or ``None``: not plain JSON, NUL
    characters, lone surrogates, integers beyond 64 bits, nesting deeper than
    ``MAX_CONTEXT_DEPTH``, or more than ``DURABLE["MAX_CONTEXT_BYTES"]`` as compact JSON."""
    cap = conf.max_context_bytes()
    try:
        text: str | None = json.dumps(
            value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
    except (TypeError, ValueError, RecursionError):
        text = None  # the walk below says why
    if text is not None:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > cap:
            return (
                f"The context is {size} bytes as JSON; at most {cap} "
                f"(DURABLE['MAX_CONTEXT_BYTES'])."
            )
    problem = _json_problem(value)
    if problem is None and text is None:
        problem = "The context must be plain JSON; this value cannot be written as JSON."
    return problem


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
    if isinstance(definition.schedule, str) and len(definition.schedule) > MAX_CRON_LENGTH:
        errors["schedule"] = (
            f"The cron expression is {len(definition.schedule)} characters; at most "
            f"{MAX_CRON_LENGTH}."
        )
    else:
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
    problem = context_problem(definition.context)
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
