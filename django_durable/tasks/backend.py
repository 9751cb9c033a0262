"""``DurableBackend``: ``django.tasks`` on durable queues."""

from __future__ import annotations

import logging
from typing import Any, ParamSpec, TypeVar, cast

from django.core.checks import CheckMessage, Error
from django.tasks import Task, TaskResult, task_backends
from django.tasks.backends.base import (
    BaseTaskBackend,
)
from django.tasks.exceptions import (
    InvalidTask,
    InvalidTaskBackend,
    TaskResultDoesNotExist,
)
from django.utils.json import normalize_json
from django.utils.module_loading import autodiscover_modules

from django_durable import conf, registry
from django_durable.engine import enqueue as enqueuing
from django_durable.exceptions import RegistrationError
from django_durable.models import WorkflowRun
from django_durable.queues import Queue
from django_durable.tasks import events, registration, results

logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")

DEFAULT_MAX_RECOVERY_ATTEMPTS = 100

OPTIONS = {"MAX_RECOVERY_ATTEMPTS"}
"""The keys ``OPTIONS`` may hold."""


def _option_problems(options: Any) -> list[str]:
    if not isinstance(options, dict):
        return [f"OPTIONS must be a dict, got {type(options).__name__}."]
    problems = [
        f"Unknown key {key!r} in OPTIONS; known keys: {', '.join(sorted(OPTIONS))}."
        for key in sorted(set(options) - OPTIONS, key=str)
    ]
    attempts = options.get("MAX_RECOVERY_ATTEMPTS", DEFAULT_MAX_RECOVERY_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        problems.append(f"OPTIONS['MAX_RECOVERY_ATTEMPTS'] must be an int >= 1, got {attempts!r}.")
    return problems


class DurableBackend(BaseTaskBackend):
    """Runs each enqueued task as a durable run on the declared ``durable.Queue`` of the
    task's ``queue_name``, executed by the workers of ``manage.py runscheduler``.

    Priorities are mapped (Django runs higher numbers first, the queues lower ones first:
    the sign flips), ``run_after`` defers the claim, and results are read from the run's
    row by any process. Every name in ``QUEUES`` must be a declared ``durable.Queue``.
    ``OPTIONS``: ``MAX_RECOVERY_ATTEMPTS`` (default 100), how often a task run is recovered
    after its worker died before it is given up.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        events.connect(DurableBackend)
        self.problems = _option_problems(self.options)
        attempts = self.options.get("MAX_RECOVERY_ATTEMPTS") if not self.problems else None
        self.max_recovery_attempts = attempts or DEFAULT_MAX_RECOVERY_ATTEMPTS

    def __repr__(self) -> str:
        return f"<DurableBackend {self.alias!r}>"

    # -- validation --------------------------------------------------------------------

    def validate_task(self, task: Task[..., Any]) -> None:
        """Django's rules, then register the task so workers of this process can run it."""
        super().validate_task(task)
        if self.problems:
            raise InvalidTask(f"Task backend {self.alias!r} is misconfigured: {self.problems[0]}")
        try:
            registration.register(task, max_recovery_attempts=self.max_recovery_attempts)
        except RegistrationError as exc:
            raise InvalidTask(str(exc)) from None

    def queue_of(self, task: Task[..., Any]) -> Queue:
        """The declared durable queue of ``task``'s ``queue_name``."""
        try:
            queue: Queue = registry.get_queue(task.queue_name)
        except RegistrationError:
            raise InvalidTask(
                f"Queue {task.queue_name!r} of task {task.module_path!r} is not a declared "
                f"durable queue; declare it with durable.Queue({task.queue_name!r}) in a "
                f"module imported at start-up (an app's workflows.py)."
            ) from None
        return queue

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        messages: list[CheckMessage] = list(super().check(**kwargs))
        for problem in self.problems:
            messages.append(
                Error(
                    f"Task backend {self.alias!r}: {problem}",
                    hint="Fix OPTIONS of this backend in the TASKS setting.",
                    obj=self,
                    id="django_durable.E021",
                )
            )
        for name in sorted(self.queues):
            try:
                registry.get_queue(name)
            except RegistrationError:
                messages.append(
                    Error(
                        f"Queue {name!r} of task backend {self.alias!r} is not a declared "
                        f"durable queue.",
                        hint=(
                            f"Declare it with durable.Queue({name!r}) (with its limits, if any) "
                            f"in an app's workflows.py, or remove it from QUEUES."
                        ),
                        obj=self,
                        id="django_durable.E020",
                    )
                )
        return messages

    # -- enqueue and results -------------------------------------------------------------

    def enqueue(
        self, task: Task[_P, _R], args: list[Any], kwargs: dict[str, Any]
    ) -> TaskResult[_P, _R]:
        """Write an ``ENQUEUED`` run of ``task`` (in the caller's transaction); its result.

        Inside a workflow the run is a child recorded as a step, so a replay returns the
        same result instead of enqueueing again. ``SetWorkflowID`` chooses the result id
        (enqueueing an existing id returns that run's result) and ``SetEnqueueOptions``'s
        ``deduplication_id`` applies; the task's own priority wins over the options'.
        """
        self.validate_task(task)
        info = registration.register(task, max_recovery_attempts=self.max_recovery_attempts)
        queue = self.queue_of(task)
        try:
            plain_args = list(cast(list[Any], normalize_json(list(args))))
            plain_kwargs = dict(cast(dict[str, Any], normalize_json(dict(kwargs))))
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"Task {task.module_path!r}: arguments must be JSON values ({exc})."
            ) from None
        workflow_id, row = enqueuing.enqueue(
            info,
            tuple(plain_args),
            plain_kwargs,
            queue_name=queue.name,
            priority=results.run_priority(task.priority),
            run_after=task.run_after,
        )
        if row is None:
            return cast("TaskResult[_P, _R]", self.get_result(workflow_id))
        logger.debug(
            "Enqueued task %s as run %s on %s",
            task.module_path,
            workflow_id,
            queue.name,
            extra={"action": "task_enqueued", "workflow_id": workflow_id, "queue": queue.name},
        )
        return cast("TaskResult[_P, _R]", results.task_result(row, task, self.alias))

    def get_result(self, result_id: str) -> TaskResult[..., Any]:
        """The ``TaskResult`` of run ``result_id``, read from its row (one query)."""
        run = WorkflowRun.objects.using(conf.database_alias()).filter(pk=result_id).first()
        if run is None:
            raise TaskResultDoesNotExist(result_id)
        task = registration.task_of(run.name)
        if task is None:
            raise TaskResultDoesNotExist(
                f"{result_id!r} is a run of {run.name!r}, which is not a task registered in "
                f"this process."
            )
        return results.task_result(run, task, self.alias)


def autodiscover() -> None:
    """Import each installed app's ``tasks`` module when a ``DurableBackend`` is configured,
    so this process's workers know its tasks (a worker never imports a path from a row)."""
    for alias in task_backends.settings:
        try:
            backend = task_backends[alias]
        except InvalidTaskBackend:
            continue  # Django's own checks report a backend that cannot be loaded
        if isinstance(backend, DurableBackend):
            autodiscover_modules("tasks")
            return
