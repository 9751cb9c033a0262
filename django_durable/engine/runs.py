"""Running one workflow durably: open its run row, execute or replay it, record the outcome."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from django_durable import conf, context, registry, serialization, signals
from django_durable.context import RecordedStep, WorkflowState
from django_durable.db import insert_run, select_run, select_steps
from django_durable.engine import active as active_runs
from django_durable.engine import events
from django_durable.engine.heartbeat import HEARTBEAT
from django_durable.exceptions import (
    ExecutionInterrupted,
    InvalidStateError,
    MaxRecoveryAttemptsExceeded,
    RegistrationError,
    SerializationError,
    WorkflowCancelled,
    WorkflowConflict,
    WorkflowNotFound,
    WorkflowTimeout,
)
from django_durable.models import RunStatus, WorkflowRun
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
    """Rebuild the call of a stored run from its row and this process's registry."""
    info = registry.get_workflow(run.name)
    stored = serialization.loads(run.inputs)
    receiver: tuple[Any, ...] = ()
    if info.func_type is FuncType.INSTANCE:
        receiver = (registry.get_instance(str(run.class_name), str(run.config_name)),)
    elif info.func_type is FuncType.CLASS:
        receiver = (info.owner().cls,)
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
    status: str = RunStatus.PENDING,
    parent_id: str | None = None,
    queue_name: str | None = None,
    schedule_name: str | None = None,
    priority: int = 0,
    deduplication_id: str | None = None,
) -> WorkflowRun:
    """An unsaved row for ``inv``; fails before anything is written if inputs are not JSON."""
    inputs = serialization.dumps({"args": list(inv.args), "kwargs": inv.kwargs})
    now = timezone.now()
    return WorkflowRun(
        workflow_id=workflow_id,
        name=inv.info.name,
        class_name=inv.info.class_name,
        config_name=inv.config_name,
        status=status,
        inputs=inputs,
        executor_id=conf.executor_id() if status == RunStatus.PENDING else None,
        queue_name=queue_name,
        schedule_name=schedule_name,
        priority=priority,
        deduplication_id=deduplication_id,
        parent_id=parent_id,
        created_at=now,
        updated_at=now,
        started_at=now if status == RunStatus.PENDING else None,
    )


def open_run(run: WorkflowRun) -> tuple[WorkflowRun, bool]:
    """Insert ``run``, or load the existing run with its id (``created`` is False then)."""
    using = conf.database_alias()
    if insert_run(run, using):
        return run, True
    existing = WorkflowRun.objects.using(using).get(pk=run.pk)
    if existing.name != run.name:
        raise WorkflowConflict(
            f"Workflow id {run.pk!r} is already used by a run of {existing.name!r}; "
            f"it cannot start {run.name!r}."
        )
    return existing, False


def load_steps(workflow_id: str) -> dict[int, RecordedStep]:
    rows = select_steps(conf.database_alias(), workflow_id)
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
        raise serialization.decode_exception(run.error or "")
    if run.status == RunStatus.CANCELLED:
        raise WorkflowCancelled(f"Workflow {run.pk!r} was cancelled.")
    if run.status == RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED:
        raise MaxRecoveryAttemptsExceeded(
            f"Workflow {run.pk!r} was recovered {run.recovery_attempts} times and given up."
        )
    raise InvalidStateError(f"Workflow {run.pk!r} has not finished (status {run.status}).")


def fetch(workflow_id: str) -> WorkflowRun:
    run = select_run(conf.database_alias(), workflow_id)
    if run is None:
        raise WorkflowNotFound(f"No workflow run has the id {workflow_id!r}.")
    return run


def wait_outcome(workflow_id: str, timeout: float | None = None) -> Any:
    """Block until the run finishes, then return its result or raise its error."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        holder = active_runs.get(workflow_id)
        try:
            run = fetch(workflow_id)
        except WorkflowNotFound:
            if holder is None:
                raise
            run = None  # the thread holding it has not inserted its row yet
        if run is not None and run.is_finished:
            return outcome(run)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WorkflowTimeout(
                f"Workflow {workflow_id!r} did not finish within {timeout} seconds."
            )
        if holder is not None:
            # Executing in this process: wake up as soon as it is done.
            holder.done.wait(1.0 if remaining is None else min(1.0, remaining))
        else:
            time.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * 2, 0.25)


async def await_outcome(workflow_id: str, timeout: float | None = None) -> Any:
    """``wait_outcome`` for coroutines: polls without blocking the event loop."""
    import asyncio

    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.005
    while True:
        run = await sync_to_async(fetch)(workflow_id)
        if run.is_finished:
            return outcome(run)
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WorkflowTimeout(
                f"Workflow {workflow_id!r} did not finish within {timeout} seconds."
            )
        await asyncio.sleep(delay if remaining is None else min(delay, remaining))
        delay = min(delay * 2, 0.25)


def record_outcome(
    run: WorkflowRun, result: Any = None, error: BaseException | None = None
) -> None:
    """Write the run's final status; raise ``WorkflowCancelled`` if it was cancelled meanwhile."""
    with interruptible():
        _record_outcome(run, result, error)


def _record_outcome(run: WorkflowRun, result: Any, error: BaseException | None) -> None:
    if error is not None:
        finished = run.finish(RunStatus.ERROR, error=serialization.encode_exception(error))
    else:
        try:
            output = serialization.dumps(result)
        except SerializationError as exc:
            run.finish(RunStatus.ERROR, error=serialization.encode_exception(exc))
            raise
        finished = run.finish(RunStatus.SUCCESS, output=output)
    if not finished:
        raise WorkflowCancelled(f"Workflow {run.pk!r} was cancelled before it finished.")
    events.finished(run, run.status, conf.database_alias())
    logger.info(
        "Workflow %s (%s) finished: %s",
        run.pk,
        run.name,
        run.status,
        extra={"action": "workflow_finished", "workflow_id": run.pk, "status": run.status},
    )


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn a lost database connection into ``ExecutionInterrupted`` (the run stays pending)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise ExecutionInterrupted(f"Lost the database while running a workflow: {exc}") from exc


def new_state(run: WorkflowRun, recorded: dict[int, RecordedStep]) -> WorkflowState:
    HEARTBEAT.ensure_started()
    return WorkflowState(
        workflow_id=run.pk, name=run.name, executor_id=conf.executor_id(), recorded=recorded
    )


def execute(
    run: WorkflowRun,
    inv: Invocation,
    holder: active_runs.ActiveRun,
    recorded: dict[int, RecordedStep],
) -> Any:
    """Run the body of a held ``PENDING`` run in this thread and record its outcome."""
    state = holder.state = new_state(run, recorded)
    events.started(run, state.executor_id, conf.database_alias())
    with context.running(state):
        try:
            result = inv.call()
        except WorkflowCancelled:
            raise
        except Exception as exc:
            record_outcome(run, error=exc)
            raise
    record_outcome(run, result)
    return result


async def aexecute(
    run: WorkflowRun,
    inv: Invocation,
    holder: active_runs.ActiveRun,
    recorded: dict[int, RecordedStep],
) -> Any:
    """``execute`` for ``async def`` workflows."""
    state = holder.state = new_state(run, recorded)
    if signals.workflow_started.has_listeners(WorkflowRun):
        await sync_to_async(events.started)(run, state.executor_id, conf.database_alias())
    try:
        with context.running(state):
            try:
                result = await inv.call()
            except WorkflowCancelled:
                raise
            except Exception as exc:
                await sync_to_async(record_outcome)(run, error=exc)
                raise
        await sync_to_async(record_outcome)(run, result)
        return result
    finally:
        # The database work of this run went through helper threads; recycle their
        # connections as a request's end would.
        await sync_to_async(close_old_connections)()


def resumable(run: WorkflowRun) -> bool:
    """Whether this process may execute ``run`` (pending and assigned to this executor)."""
    return run.status == RunStatus.PENDING and run.executor_id == conf.executor_id()


def new_workflow_id() -> str:
    return str(uuid.uuid4())
