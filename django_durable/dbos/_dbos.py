"""The ``DBOS`` class: DBOS Transact's entry point as a thin map onto ``django_durable``.

Each ``DBOS.<name>`` is the package's function of that name, looked up when used (so a
function added to the package is reachable here without a change); the few whose DBOS
signature differs are adapted below, and the values DBOS reads as attributes inside a
workflow (``DBOS.workflow_id``, ``DBOS.step_id``, ``DBOS.step_status``, ``DBOS.logger``,
``DBOS.sql_session``) are properties of the class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import django_durable
from django_durable import conf, context, registry
from django_durable.dbos._handles import WorkflowHandleAsync, as_async
from django_durable.dbos._sql import SQLSession, sql_session
from django_durable.engine import adhoc, patching
from django_durable.engine import enqueue as enqueuing
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle

logger = logging.getLogger(__name__)

SAME = frozenset(
    {
        # schedules
        *("create_schedule", "list_schedules", "get_schedule", "delete_schedule"),
        *("pause_schedule", "resume_schedule", "apply_schedules", "backfill_schedule"),
        "trigger_schedule",
        *("create_schedule_async", "list_schedules_async", "get_schedule_async"),
        *("delete_schedule_async", "pause_schedule_async", "resume_schedule_async"),
        *("apply_schedules_async", "backfill_schedule_async", "trigger_schedule_async"),
        # workflows
        *("start_workflow", "sleep", "sleep_async", "cancel_workflow", "resume_workflow"),
        *("cancel_workflows", "cancel_workflows_async", "resume_workflows"),
        *("delete_workflow", "delete_workflow_async", "delete_workflows"),
        *("list_workflows", "list_workflows_async", "list_queued_workflows"),
        *("list_queued_workflows_async", "list_workflow_steps", "list_workflow_steps_async"),
        *("get_workflow_status", "get_workflow_status_async", "fork_workflow", "wait_first"),
        *("wait_first_async", "deprecate_patch", "deprecate_patch_async"),
        # queues
        *("register_queue", "register_queue_async", "retrieve_queue", "retrieve_queue_async"),
        *("list_queues", "list_queues_async", "delete_queue", "delete_queue_async"),
        # communication and streams
        *("send", "send_async", "recv", "recv_async", "set_event", "set_event_async"),
        *("get_event", "get_event_async", "get_all_events", "get_all_events_async"),
        *("write_stream", "write_stream_async", "close_stream", "close_stream_async"),
        *("read_stream", "read_stream_async"),
    }
)
"""Names that are the package's function of the same name."""

ASYNC_HANDLES = {
    "start_workflow_async": "start_workflow_async",
    "fork_workflow_async": "fork_workflow_async",
    "retrieve_workflow_async": "retrieve_workflow_async",
}
"""Coroutines whose handle DBOS gives as a ``WorkflowHandleAsync``."""

OFF_LOOP = {
    "cancel_workflow_async": "cancel_workflow",
    "resume_workflow_async": "resume_workflow",
    "delete_workflows_async": "delete_workflows",
    "resume_workflows_async": "resume_workflows",
}
"""DBOS coroutines run as the sync function on a thread of the runtime."""


def _package(name: str) -> Any:
    try:
        return getattr(django_durable, name)
    except AttributeError:
        raise AttributeError(
            f"DBOS.{name} has no counterpart in this version of django_durable."
        ) from None


def _with_async_handle(name: str) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return as_async(await _package(name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    return call


def _off_loop(name: str) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        function = _package(name)
        return as_async(await runtimes.current().run_sync(lambda: function(*args, **kwargs)))

    call.__name__ = call.__qualname__ = f"{name}_async"
    return call


class _DBOSMeta(type):
    """Class-level attribute access of ``DBOS``: the mapped names and the properties."""

    def __getattr__(cls, name: str) -> Any:
        if name in SAME:
            return _package(name)
        if name in ASYNC_HANDLES:
            return _with_async_handle(ASYNC_HANDLES[name])
        if name in OFF_LOOP:
            return _off_loop(OFF_LOOP[name])
        raise AttributeError(f"DBOS has no attribute {name!r} in django_durable.")

    @property
    def workflow_id(cls) -> str | None:
        """The id of the workflow running in this context (``None`` outside one)."""
        return context.workflow_id()

    @property
    def step_id(cls) -> int | None:
        """The number of the step running in this context (``None`` outside one)."""
        return context.step_id()

    @property
    def step_status(cls) -> Any:
        """The step running in this context as a ``StepStatus``, or ``None``."""
        return context.step_status()

    @property
    def logger(cls) -> Any:
        return django_durable.logger

    @property
    def sql_session(cls) -> SQLSession:
        """Inside ``@DBOS.transaction``: run SQL in the transaction (see ``_sql``)."""
        return sql_session()

    @property
    def application_version(cls) -> str | None:
        return conf.application_version()

    @property
    def executor_id(cls) -> str:
        return runtimes.current().executor_id


class DBOS(metaclass=_DBOSMeta):
    """DBOS Transact's ``DBOS`` on django_durable. Configuration is the Django settings
    (``DURABLE``); ``DBOS(config=...)``, ``launch()`` and ``destroy()`` do nothing."""

    def __init__(self, *, config: Mapping[str, Any] | None = None, **options: Any) -> None:
        self.config = dict(config or {})
        version = self.config.get("application_version")
        if version is not None and version != conf.application_version():
            logger.warning(
                "DBOS config application_version %r is ignored: set "
                "DURABLE['APPLICATION_VERSION'] in the Django settings",
                version,
                extra={"action": "dbos_config_ignored"},
            )

    # -- lifecycle: Django starts and stops everything -------------------------------------

    @classmethod
    def launch(cls) -> None:
        """Nothing to do: workflows are registered at import, workers run in
        ``manage.py runscheduler``."""

    @classmethod
    def destroy(cls, *args: Any, **kwargs: Any) -> None:
        """Nothing to do (the process's runtime is shut down when it exits)."""

    @classmethod
    def listen_queues(cls, queues: Sequence[Any]) -> None:
        names = [getattr(queue, "name", queue) for queue in queues]
        logger.warning(
            "DBOS.listen_queues(%s) has no effect: run 'manage.py runscheduler --queues %s'",
            names,
            ",".join(map(str, names)),
            extra={"action": "dbos_listen_queues"},
        )

    @classmethod
    def register_instance(cls, instance: Any) -> None:
        """Nothing to do: a ``DBOSConfiguredInstance`` registers itself when created."""

    # -- decorators ------------------------------------------------------------------------

    @classmethod
    def workflow(
        cls, *, name: str | None = None, max_recovery_attempts: int | None = 100, **_: Any
    ) -> Callable[[Any], Any]:
        return django_durable.workflow(name=name, max_recovery_attempts=max_recovery_attempts)

    @classmethod
    def step(cls, *, preemptible: bool = False, **options: Any) -> Callable[[Any], Any]:
        """``@step`` with DBOS's options (``preemptible`` is implied: a cancel stops an
        async step at its next boundary)."""
        return django_durable.step(**options)

    @classmethod
    def transaction(
        cls, isolation_level: str | None = None, *, name: str | None = None
    ) -> Callable[[Any], Any]:
        return django_durable.transaction(isolation_level=isolation_level)

    @classmethod
    def dbos_class(cls, class_name: str | None = None) -> Callable[[Any], Any]:
        return django_durable.durable_class(class_name)

    @classmethod
    def scheduled(cls, cron: str, **options: Any) -> Callable[[Any], Any]:
        return django_durable.scheduled(cron, **options)

    # -- workflows -------------------------------------------------------------------------

    @classmethod
    def retrieve_workflow(cls, workflow_id: str, existing_workflow: bool = True) -> WorkflowHandle:
        if not existing_workflow:
            return WorkflowHandle(workflow_id)
        return django_durable.retrieve_workflow(workflow_id)

    @classmethod
    def get_result(cls, workflow_id: str) -> Any:
        """Wait for the run and return its result (``None`` if there is no such run)."""
        if django_durable.get_workflow_status(workflow_id) is None:
            return None
        return WorkflowHandle(workflow_id).get_result()

    @classmethod
    async def get_result_async(cls, workflow_id: str) -> Any:
        if await django_durable.get_workflow_status_async(workflow_id) is None:
            return None
        return await WorkflowHandle(workflow_id).get_result_async()

    @classmethod
    def enqueue_workflow(
        cls, queue_name: str, func: Any, *args: Any, **kwargs: Any
    ) -> WorkflowHandle:
        """Enqueue a run of ``func`` on the queue named ``queue_name`` (declared in code or
        registered in the database)."""
        queue = django_durable.retrieve_queue(queue_name)
        if queue is not None:
            queue.check_partition_key()
        info, receiver = registry.info_of(func)
        workflow_id, _ = enqueuing.enqueue(info, receiver + args, kwargs, queue_name=queue_name)
        return WorkflowHandle(workflow_id)

    @classmethod
    async def enqueue_workflow_async(
        cls, queue_name: str, func: Any, *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync:
        handle = await runtimes.current().run_sync(
            lambda: cls.enqueue_workflow(queue_name, func, *args, **kwargs)
        )
        return WorkflowHandleAsync(handle.workflow_id)

    @classmethod
    def run_step(
        cls, dbos_step_options: Mapping[str, Any] | None, func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Run ``func`` as a step with DBOS's ``StepOptions`` (a dict, or ``None``)."""
        return adhoc.as_step(func, dbos_step_options)(*args, **kwargs)

    @classmethod
    async def run_step_async(
        cls, dbos_step_options: Mapping[str, Any] | None, func: Any, *args: Any, **kwargs: Any
    ) -> Any:
        return await adhoc.call_async(adhoc.as_step(func, dbos_step_options), args, kwargs)

    @classmethod
    def patch(cls, patch_name: str) -> bool:
        """``django_durable.patch``, its marker spelled as DBOS spells it."""
        return patching.apply(patch_name, patching.DBOS_PREFIX)

    @classmethod
    async def patch_async(cls, patch_name: str) -> bool:
        return await patching.apply_async(patch_name, patching.DBOS_PREFIX)
