"""Which workflows, durable classes and configured instances this process knows.

Pure Python: the engine registers functions here when they are decorated and looks them up
by the names stored in run and schedule rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django_durable.exceptions import RegistrationError, WorkflowNotRegistered

logger = logging.getLogger(__name__)


class FuncType(StrEnum):
    """How a workflow is called: a plain function, or which kind of method."""

    FUNCTION = "function"
    STATIC = "static"
    CLASS = "class"
    INSTANCE = "instance"


@dataclass(eq=False)
class ClassInfo:
    """A class decorated with ``@durable_class``."""

    registered_name: str
    """The name runs and schedules record (``class_name`` or ``__qualname__``)."""
    cls: type
    """The class object."""
    module: str
    """The module that defined it."""
    instances: dict[str, Any] = field(default_factory=dict)
    """Configured instances by config name."""


@dataclass(eq=False)
class WorkflowInfo:
    """A function decorated with ``@workflow``."""

    name: str
    """The registered name (``name`` or ``__qualname__``; class-prefixed for methods)."""
    func: Callable[..., Any]
    """The undecorated function."""
    module: str
    """The module that defined it."""
    is_async: bool
    """Whether the function is ``async def``."""
    max_recovery_attempts: int | None
    """How often a run may be recovered before it is given up (``None``: no limit)."""
    explicit_name: bool = False
    """Whether ``name`` was given to the decorator."""
    func_type: FuncType = FuncType.FUNCTION
    """Set by ``@durable_class`` for methods."""
    class_info: ClassInfo | None = None
    """The owning durable class, for methods."""
    task: Any = None
    """The ``django.tasks`` ``Task`` whose runs this workflow executes (registered by the
    durable task backend under the task's module path), ``None`` for a workflow."""

    @property
    def class_name(self) -> str | None:
        return self.class_info.registered_name if self.class_info else None

    def owner(self) -> ClassInfo:
        """The durable class of a method workflow."""
        if self.class_info is None:
            raise RegistrationError(
                f"Workflow {self.name!r} is defined in a class that is not decorated with "
                f"@durable_class(); decorate the class so its workflows can be recovered."
            )
        return self.class_info


_lock = threading.RLock()
_workflows: dict[str, WorkflowInfo] = {}
_classes: dict[str, ClassInfo] = {}
_queues: dict[str, tuple[str, Any]] = {}

INTERNAL_QUEUE_NAME = "_durable_internal"
"""The queue that carries resumed, forked, recovered and scheduled runs; every worker
serves it."""


def is_method_qualname(qualname: str) -> bool:
    """Whether a ``__qualname__`` names a function defined in a class body."""
    parts = qualname.split(".")
    return len(parts) > 1 and parts[-2] != "<locals>"


def _origin(func: Callable[..., Any]) -> tuple[str, int]:
    code = getattr(func, "__code__", None)
    return func.__qualname__, getattr(code, "co_firstlineno", 0)


def register_workflow(info: WorkflowInfo) -> None:
    """Register ``info`` under its name; a clash with another module is an error, a second
    function under the same name in the same module replaces the first with a warning (a
    re-import of the module replaces its own entries silently)."""
    with _lock:
        existing = _workflows.get(info.name)
        if existing is not None and existing.module != info.module:
            raise RegistrationError(
                f"Workflow name {info.name!r} is registered twice: by {existing.module} "
                f"and by {info.module}. Give one of them another name with "
                f"@workflow(name=...)."
            )
        if existing is not None and _origin(existing.func) != _origin(info.func):
            logger.warning(
                "Workflow name %r is registered twice in %s (%s, then %s); the second "
                "replaces the first",
                info.name,
                info.module,
                existing.func.__qualname__,
                info.func.__qualname__,
                extra={"action": "workflow_registered_twice"},
            )
        _workflows[info.name] = info


def register_class(
    cls: type, registered_name: str, methods: list[tuple[str, FuncType, WorkflowInfo]]
) -> ClassInfo:
    """Register a durable class and the workflow methods found on it."""
    module = cls.__module__
    with _lock:
        existing = _classes.get(registered_name)
        if existing is not None and existing.module != module:
            raise RegistrationError(
                f"Durable class name {registered_name!r} is registered twice: by "
                f"{existing.module} and by {module}. Pass class_name=... to "
                f"@durable_class to tell them apart."
            )
        info = ClassInfo(registered_name=registered_name, cls=cls, module=module)
        for attr_name, func_type, wf in methods:
            wf.func_type = func_type
            wf.class_info = info
            if not wf.explicit_name:
                wf.name = f"{registered_name}.{attr_name}"
        # Check every name before registering any, so a clash registers nothing.
        for _, _, wf in methods:
            other = _workflows.get(wf.name)
            if other is not None and other.module != wf.module:
                raise RegistrationError(
                    f"Workflow name {wf.name!r} is registered twice: by {other.module} "
                    f"and by {wf.module}."
                )
        _classes[registered_name] = info
        for _, _, wf in methods:
            _workflows[wf.name] = wf
        return info


def register_instance(class_info: ClassInfo, config_name: str, instance: Any) -> None:
    """Register a configured instance under ``<class name>/<config name>``."""
    with _lock:
        if config_name in class_info.instances:
            raise RegistrationError(
                f"A configured instance {class_info.registered_name}/{config_name} already "
                f"exists; each instance needs its own config_name."
            )
        class_info.instances[config_name] = instance


def get_workflow(name: str) -> WorkflowInfo:
    """The workflow registered under ``name``; ``WorkflowNotRegistered`` if none."""
    try:
        return _workflows[name]
    except KeyError:
        raise WorkflowNotRegistered(
            f"No workflow named {name!r} is registered in this process. Is the module "
            f"that defines it imported (e.g. an app's workflows.py)?"
        ) from None


def find_workflow(name: str) -> WorkflowInfo | None:
    return _workflows.get(name)


def get_class(registered_name: str) -> ClassInfo:
    try:
        return _classes[registered_name]
    except KeyError:
        raise WorkflowNotRegistered(
            f"No durable class named {registered_name!r} is registered in this process."
        ) from None


def get_instance(class_name: str, config_name: str) -> Any:
    """The configured instance ``<class_name>/<config_name>``."""
    class_info = get_class(class_name)
    try:
        return class_info.instances[config_name]
    except KeyError:
        raise WorkflowNotRegistered(
            f"No configured instance {class_name}/{config_name} exists in this process. "
            f"Create it at import time (e.g. in workflows.py) so runs can be recovered."
        ) from None


def workflow_names() -> list[str]:
    return sorted(_workflows)


def find_task(task: Any) -> WorkflowInfo | None:
    """The workflow registered for a ``django.tasks`` ``Task`` (matched by its function),
    or ``None`` if no durable task backend registered it in this process."""
    path = getattr(task, "module_path", None)
    func = getattr(task, "func", None)
    info = _workflows.get(path) if isinstance(path, str) else None
    if info is None or info.task is None or info.task.func is not func:
        return None
    return info


def register_queue(name: str, module: str, queue: Any) -> None:
    """Register a declared queue; a second declaration from another module is an error."""
    with _lock:
        existing = _queues.get(name)
        if existing is not None and existing[0] != module:
            raise RegistrationError(
                f"Queue {name!r} is declared twice: in {existing[0]} and in {module}."
            )
        _queues[name] = (module, queue)


def get_queue(name: str) -> Any:
    try:
        return _queues[name][1]
    except KeyError:
        raise RegistrationError(
            f"Queue {name!r} is not declared; declare it with durable.Queue({name!r}) in a "
            f"module that is imported at start-up (e.g. an app's workflows.py)."
        ) from None


_stored_queue_lookup: list[Callable[[str], bool]] = []


def set_stored_queue_lookup(lookup: Callable[[str], bool]) -> None:
    """Install how to ask whether a queue exists in the queue table (``queue_store`` does,
    when it is imported), so queues registered at runtime count as existing."""
    _stored_queue_lookup[:] = [lookup]


def queue_exists(name: str) -> bool:
    """Whether ``name`` is a queue: declared in this process's code, or in the table."""
    if name in _queues:
        return True
    return any(lookup(name) for lookup in _stored_queue_lookup)


def all_queues() -> list[Any]:
    with _lock:
        return [queue for _, queue in _queues.values()]


def info_of(fn: Any) -> tuple[WorkflowInfo, tuple[Any, ...]]:
    """The workflow behind ``fn`` (a decorated function or bound method) and its receiver."""
    receiver: tuple[Any, ...] = ()
    target = fn
    if hasattr(fn, "__self__") and hasattr(fn, "__func__"):
        receiver, target = (fn.__self__,), fn.__func__
    info = getattr(target, "__durable_workflow__", None)
    if info is None:
        raise RegistrationError(
            f"{getattr(fn, '__qualname__', fn)!r} is not a workflow; decorate it with @workflow()."
        )
    return info, receiver


@dataclass(frozen=True, kw_only=True)
class CodeSchedule:
    """A schedule declared with ``@scheduled`` (written to the database by the scheduler)."""

    name: str | None
    """The schedule name given to the decorator (default: the workflow's name)."""
    workflow: WorkflowInfo
    """The scheduled workflow."""
    schedule: str
    """The cron expression."""
    context: Any
    """The JSON value passed to each run."""
    automatic_backfill: bool
    """Whether missed slots are enqueued when a scheduler comes back."""
    cron_timezone: str | None
    """IANA timezone name; ``None`` is UTC."""
    queue_name: str | None
    """Queue of its runs; ``None`` is the internal queue."""
    module: str
    """The module that declared it."""

    @property
    def schedule_name(self) -> str:
        return self.name or self.workflow.name


_code_schedules: dict[int, CodeSchedule] = {}


def register_code_schedule(entry: CodeSchedule) -> None:
    """Remember a ``@scheduled`` declaration; re-importing a module replaces its own."""
    with _lock:
        for key, existing in list(_code_schedules.items()):
            if existing.module == entry.module and existing.workflow.func is entry.workflow.func:
                del _code_schedules[key]
        _code_schedules[id(entry)] = entry


def code_schedules() -> list[CodeSchedule]:
    """Every ``@scheduled`` declaration of this process, in declaration order."""
    with _lock:
        return list(_code_schedules.values())
