"""Run rows: resolving a call to what runs, building and opening its row, reading outcomes."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from django_durable import conf, error_records, registry, serialization, tracing
from django_durable.context import RecordedStep
from django_durable.exceptions import (
    DurableError,
    InvalidStateError,
    MaxRecoveryAttemptsExceeded,
    RegistrationError,
    WorkflowCancelled,
    WorkflowConflict,
    WorkflowNotFound,
    WorkflowNotRegistered,
)
from django_durable.models import RunStatus, WorkflowRun
from django_durable.models import sql as run_sql
from django_durable.registry import FuncType, WorkflowInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Invocation:
    """A workflow call resolved to what runs: the function, its receiver and its inputs."""

    info: WorkflowInfo
    """The registered workflow."""
    receiver: tuple[Any, ...]
    """``(instance,)`` or ``(cls,)`` for methods, ``()`` otherwise."""
    args: tuple[Any, ...]
    """Positional inputs (without the receiver)."""
    kwargs: dict[str, Any]
    """Keyword inputs."""
    config_name: str | None
    """The configured instance's name, for instance methods."""

    def call(self) -> Any:
        return self.info.func(*self.receiver, *self.args, **self.kwargs)


class Unrunnable(DurableError):
    """A stored run that this process can never execute as it is: its inputs cannot be
    decoded, or its durable class or configured instance does not exist here."""


def resolve(info: WorkflowInfo, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Invocation:
    """Split a call's arguments into receiver and inputs, checking the receiver."""
    if registry.is_method_qualname(info.func.__qualname__):
        info.owner()  # a method of an undecorated class could not be recovered: refuse it
    if info.func_type is FuncType.INSTANCE:
        owner = info.owner()
        instance = args[0] if args else None
        config_name = getattr(instance, "config_name", None)
        registered = owner.instances.get(config_name) if config_name else None
        if instance is None or registered is not instance:
            raise RegistrationError(
                f"Workflow {info.name!r} is an instance method: call it on a configured "
                f"instance of {owner.registered_name} (a ConfiguredInstance "
                f"created with a config_name)."
            )
        return Invocation(
            info=info, receiver=(instance,), args=args[1:], kwargs=kwargs, config_name=config_name
        )
    if info.func_type is FuncType.CLASS:
        return Invocation(
            info=info, receiver=args[:1], args=args[1:], kwargs=kwargs, config_name=None
        )
    return Invocation(info=info, receiver=(), args=args, kwargs=kwargs, config_name=None)


def invocation_of(run: WorkflowRun) -> Invocation:
    """Rebuild the call of a stored run from its row and this process's registry.

    ``WorkflowNotRegistered`` when the workflow is unknown here (another process may know
    it); ``Unrunnable`` when no process could run it as stored.
    """
    info = registry.get_workflow(run.name)
    try:
        stored = serialization.loads(run.inputs)
        if (
            not isinstance(stored, dict)
            or not isinstance(stored.get("args"), list)
            or not isinstance(stored.get("kwargs"), dict)
            or not all(isinstance(key, str) for key in stored["kwargs"])
        ):
            raise Unrunnable(
                f"the stored inputs are not {{'args': [...], 'kwargs': {{...}}}}: "
                f"{str(run.inputs)[:200]!r}"
            )
    except DurableError as exc:
        if isinstance(exc, Unrunnable):
            raise
        raise Unrunnable(f"its stored inputs cannot be decoded: {exc}") from None
    receiver: tuple[Any, ...] = ()
    try:
        if info.func_type is FuncType.INSTANCE:
            receiver = (registry.get_instance(str(run.class_name), str(run.config_name)),)
        elif info.func_type is FuncType.CLASS:
            receiver = (info.owner().cls,)
    except (WorkflowNotRegistered, RegistrationError) as exc:
        raise Unrunnable(str(exc)) from None
    return Invocation(
        info=info,
        receiver=receiver,
        args=tuple(stored["args"]),
        kwargs=dict(stored["kwargs"]),
        config_name=run.config_name,
    )


def new_run(
    inv: Invocation,
    workflow_id: str,
    *,
    executor_id: str | None = None,
    status: str = RunStatus.PENDING,
    parent_id: str | None = None,
    queue_name: str | None = None,
    schedule_name: str | None = None,
    priority: int = 0,
    deduplication_id: str | None = None,
    timeout: tuple[float | None, Any] = (None, None),
) -> WorkflowRun:
    """An unsaved row for ``inv``; fails before anything is written if inputs are not JSON.

    ``executor_id`` is the process executing it (``PENDING``) or enqueueing it (``None``
    for a schedule's fire). The run records this process's application version;
    ``timeout``: its ``(timeout_seconds, deadline)``.
    """
    inputs = serialization.dumps({"args": list(inv.args), "kwargs": inv.kwargs})
    now = timezone.now()
    return WorkflowRun(
        workflow_id=workflow_id,
        name=inv.info.name,
        class_name=inv.info.class_name,
        config_name=inv.config_name,
        status=status,
        inputs=inputs,
        executor_id=executor_id,
        queue_name=queue_name,
        schedule_name=schedule_name,
        priority=priority,
        deduplication_id=deduplication_id,
        parent_id=parent_id,
        application_version=conf.application_version(),
        created_at=now,
        updated_at=now,
        started_at=now if status == RunStatus.PENDING else None,
        trace_context=tracing.carrier(),
        timeout_seconds=timeout[0],
        deadline=timeout[1],
    )


def check_same_workflow(existing: WorkflowRun, run: WorkflowRun, verb: str) -> None:
    """Raise ``WorkflowConflict`` unless ``existing`` is a run of the same workflow (and the
    same configured instance) as ``run``."""
    ours = (run.name, run.class_name or None, run.config_name or None)
    theirs = (existing.name, existing.class_name or None, existing.config_name or None)
    if ours == theirs:
        return
    what = (
        existing.name
        if existing.config_name is None
        else (f"{existing.name} on instance {existing.config_name!r}")
    )
    mine = run.name if run.config_name is None else f"{run.name} on instance {run.config_name!r}"
    raise WorkflowConflict(
        f"Workflow id {run.pk!r} is already used by a run of {what!r}; it cannot {verb} {mine!r}."
    )


def open_run(run: WorkflowRun) -> tuple[WorkflowRun, bool]:
    """Insert ``run``, or load the existing run with its id (``created`` is False then)."""
    using = conf.database_alias()
    if run_sql.insert_run(run, using):
        return run, True
    existing = run_sql.select_run(using, run.pk)
    if existing is None:  # deleted between the two statements: try once more
        if run_sql.insert_run(run, using):
            return run, True
        existing = fetch(run.pk)
    check_same_workflow(existing, run, "start")
    return existing, False


def load_steps(workflow_id: str) -> dict[int, RecordedStep]:
    rows = run_sql.select_steps(conf.database_alias(), workflow_id)
    return {
        int(number): RecordedStep(
            step_number=int(number),
            step_name=name,
            output=output,
            error=error,
            child_workflow_id=child,
        )
        for number, name, output, error, child in rows
    }


def outcome(run: WorkflowRun) -> Any:
    """The result of a finished run, or raise what it raised."""
    if run.status == RunStatus.SUCCESS:
        return serialization.loads(run.output)
    if run.status == RunStatus.ERROR:
        raise error_records.decode_exception(run.error or "")
    if run.status == RunStatus.CANCELLED:
        if run.error:  # why, when it was not a plain cancel (a timeout)
            recorded = error_records.decode_exception(run.error)
            if isinstance(recorded, WorkflowCancelled):
                raise recorded
        raise WorkflowCancelled(f"Workflow {run.pk!r} was cancelled.")
    if run.status == RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        raise MaxRecoveryAttemptsExceeded(
            f"Workflow {run.pk!r} was recovered {run.recovery_attempts} times and given up."
        )
    raise InvalidStateError(f"Workflow {run.pk!r} has not finished (status {run.status}).")


def fetch(workflow_id: str) -> WorkflowRun:
    run = run_sql.select_run(conf.database_alias(), workflow_id)
    if run is None:
        raise WorkflowNotFound(f"No workflow run has the id {workflow_id!r}.")
    return run


def new_workflow_id() -> str:
    return str(uuid.uuid4())
