"""Tasks as workflows: the registry entry that lets a worker execute a task run.

A worker never imports a path read from a row. A task is registered, under its module
path, when the durable backend validates it: when its module defines it with ``@task``
(each app's ``tasks.py`` is imported at start-up) or when it is enqueued. The registered
workflow's body calls the task function inside the run, so ``@durable.step`` functions
and ``durable.sleep`` inside a task are checkpointed like in any workflow.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.tasks import Task, TaskContext
from django.utils.json import normalize_json

from django_durable import conf, context, registry
from django_durable.exceptions import InvalidStateError
from django_durable.models import WorkflowRun
from django_durable.registry import WorkflowInfo
from django_durable.tasks import results

logger = logging.getLogger(__name__)


def register(task: Task[..., Any], *, max_recovery_attempts: int) -> WorkflowInfo:
    """The workflow that executes ``task``'s runs, registered on first use.

    Raises ``RegistrationError`` if a workflow of another module has the task's name.
    """
    info = registry.find_task(task)
    if info is not None:
        return info
    func = task.func
    info = WorkflowInfo(
        name=task.module_path,
        func=_body(task),
        module=func.__module__,
        is_async=inspect.iscoroutinefunction(func),
        max_recovery_attempts=max_recovery_attempts,
        explicit_name=True,
        task=task,
    )
    registry.register_workflow(info)
    logger.debug(
        "Registered task %s",
        info.name,
        extra={"action": "task_registered", "workflow_name": info.name},
    )
    return info


def task_of(workflow_name: str) -> Task[..., Any] | None:
    """The registered task whose runs are named ``workflow_name``, or ``None``."""
    info = registry.find_workflow(workflow_name)
    return info.task if info is not None else None


def current_context(task: Task[..., Any]) -> TaskContext[..., Any]:
    """The ``TaskContext`` of the task run executing in this context."""
    workflow_id = context.workflow_id()
    if workflow_id is None:
        raise InvalidStateError(f"Task {task.module_path!r} is not running as a durable run.")
    run = WorkflowRun.objects.using(conf.database_alias()).get(pk=workflow_id)
    return TaskContext(task_result=results.task_result(run, task, task.backend))


def _body(task: Task[..., Any]) -> Callable[..., Any]:
    """The workflow function of ``task``: adds the context when the task takes it, and
    returns the result as JSON (as Django's backends do), so a value JSON cannot hold
    fails the run."""
    func = task.func
    takes_context = bool(task.takes_context)
    body: Any
    if inspect.iscoroutinefunction(func):

        async def body(*args: Any, **kwargs: Any) -> Any:
            if takes_context:
                task_context = await sync_to_async(current_context)(task)
                return normalize_json(await func(task_context, *args, **kwargs))
            return normalize_json(await func(*args, **kwargs))

    else:

        def body(*args: Any, **kwargs: Any) -> Any:
            if takes_context:
                return normalize_json(func(current_context(task), *args, **kwargs))
            return normalize_json(func(*args, **kwargs))

    functools.update_wrapper(body, func)
    # What a caller passes: the task's parameters without the context. Schedule
    # validation checks this signature for (scheduled_at, context).
    signature = inspect.signature(func)
    if takes_context:
        signature = signature.replace(parameters=list(signature.parameters.values())[1:])
    body.__signature__ = signature
    return body  # type: ignore[no-any-return]
