"""Steps, transactions and durable sleep: each checkpointed as one ``StepOutput`` row."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
    transaction,
)
from django.utils import timezone

from django_durable import conf, context, serialization
from django_durable.context import RecordedStep, WorkflowState
from django_durable.db import insert_step_if_running
from django_durable.engine import events, runs
from django_durable.exceptions import (
    ConfigurationError,
    ExecutionInterrupted,
    InvalidStateError,
    MaxStepRetriesExceeded,
    SerializationError,
    WorkflowCancelled,
)
from django_durable.models import StepOutput

logger = logging.getLogger(__name__)

SLEEP_STEP_NAME = "durable.sleep"


@dataclass(frozen=True, kw_only=True)
class StepOptions:
    """How a ``@step`` runs and retries."""

    name: str
    """The step's recorded name."""
    retries_allowed: bool = False
    """Whether a failing attempt is retried."""
    max_attempts: int = 3
    """Attempts in all, when retries are allowed."""
    interval_seconds: float = 1.0
    """Pause before the second attempt."""
    backoff_rate: float = 2.0
    """Factor applied to the pause after each further attempt."""
    should_retry: Callable[[BaseException], bool] | None = None
    """Decides whether an error is worth another attempt (all are, by default)."""


def replay(recorded: RecordedStep) -> Any:
    """Return the recorded output, or raise the recorded error, of a step."""
    logger.debug(
        "Replaying step %d (%s)",
        recorded.step_number,
        recorded.step_name,
        extra={"action": "step_replayed", "step_name": recorded.step_name},
    )
    if recorded.error is not None:
        raise serialization.decode_exception(recorded.error)
    return serialization.loads(recorded.output)


def _existing_step(workflow_id: str, number: int) -> RecordedStep:
    row = StepOutput.objects.using(conf.database_alias()).get(
        run_id=workflow_id, step_number=number
    )
    return row.to_recorded()


def write_step(
    state: WorkflowState,
    number: int,
    name: str,
    *,
    output: str | None = None,
    error: str | None = None,
    child_workflow_id: str | None = None,
    started_at: Any = None,
    savepoint: bool = True,
) -> RecordedStep | None:
    """Checkpoint a step (one INSERT). Returns the row another executor wrote first, if any.

    Raises ``WorkflowCancelled`` when the run is no longer pending.
    """
    try:
        with runs.interruptible():
            written = insert_step_if_running(
                conf.database_alias(),
                workflow_id=state.workflow_id,
                step_number=number,
                step_name=name,
                output=output,
                error=error,
                child_workflow_id=child_workflow_id,
                started_at=started_at,
                completed_at=timezone.now(),
                savepoint=savepoint,
            )
    except IntegrityError:
        if not savepoint:
            raise
        logger.warning(
            "Step %d of workflow %s was already recorded by another executor; using its outcome",
            number,
            state.workflow_id,
            extra={"action": "step_conflict", "workflow_id": state.workflow_id},
        )
        return _existing_step(state.workflow_id, number)
    if not written:
        state.cancel_event.set()
        raise WorkflowCancelled(f"Workflow {state.workflow_id!r} was cancelled.")
    if savepoint:  # a transaction step reports once its own transaction has committed
        _completed(state, number, name, failed=error is not None, started_at=started_at)
    return None


def _completed(
    state: WorkflowState, number: int, name: str, *, failed: bool, started_at: Any = None
) -> None:
    duration = (timezone.now() - started_at).total_seconds() if started_at else None
    events.step_completed(
        state.workflow_id,
        state.name,
        number,
        name,
        failed=failed,
        using=conf.database_alias(),
        duration=duration,
    )


def _record_result(
    state: WorkflowState, number: int, name: str, result: Any, started_at: Any
) -> Any:
    """Checkpoint a step's result; returns what the workflow should see."""
    try:
        output = serialization.dumps(result)
    except SerializationError as exc:
        _record_error(state, number, name, exc, started_at)
        raise
    winner = write_step(state, number, name, output=output, started_at=started_at)
    return replay(winner) if winner is not None else result


def _record_error(
    state: WorkflowState, number: int, name: str, exc: BaseException, started_at: Any
) -> None:
    winner = write_step(
        state, number, name, error=serialization.encode_exception(exc), started_at=started_at
    )
    if winner is not None:
        replay(winner)


def record_child(
    parent: WorkflowState,
    number: int,
    name: str,
    child_id: str,
    *,
    result: Any = None,
    error: BaseException | None = None,
    started: bool = False,
) -> None:
    """Record a child workflow as step ``number`` of its parent."""
    if error is not None:
        encoded_error, output = serialization.encode_exception(error), None
    else:
        encoded_error = None
        output = None if started else serialization.dumps(result)
    write_step(
        parent, number, name, output=output, error=encoded_error, child_workflow_id=child_id
    )


def _durable_state() -> WorkflowState | None:
    """The running workflow's state; ``None`` where a step is a plain call.

    Outside a workflow, or inside another step, steps run as plain calls.
    """
    state = context.current()
    if state is None or state.current_step is not None:
        return None
    return state


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_helper: ThreadPoolExecutor | None = None


def off_loop(fn: Callable[[], Any]) -> Any:
    """Run sync database work called from an event-loop thread on a helper thread."""
    global _helper
    if _helper is None:
        _helper = ThreadPoolExecutor(max_workers=4, thread_name_prefix="durable-sync")
    ctx = contextvars.copy_context()

    def job() -> Any:
        try:
            return fn()
        finally:
            close_old_connections()

    return _helper.submit(ctx.run, job).result()


def _log_retry(
    opts: StepOptions, state: WorkflowState, attempt: int, pause: float, exc: Exception
) -> None:
    logger.info(
        "Step %s failed (attempt %d of %d), retrying in %.2fs: %r",
        opts.name,
        attempt,
        opts.max_attempts,
        pause,
        exc,
        extra={"action": "step_retry", "workflow_id": state.workflow_id},
    )


def _attempts(opts: StepOptions, state: WorkflowState, call: Callable[[], Any]) -> Any:
    if not opts.retries_allowed:
        return call()
    errors: list[BaseException] = []
    pause = opts.interval_seconds
    for attempt in range(1, opts.max_attempts + 1):
        try:
            return call()
        except Exception as exc:
            errors.append(exc)
            if opts.should_retry is not None and not opts.should_retry(exc):
                raise
            if attempt == opts.max_attempts:
                break
            _log_retry(opts, state, attempt, pause, exc)
            pause_before_retry(state, pause)
            pause *= opts.backoff_rate
    raise MaxStepRetriesExceeded(opts.name, errors)


def pause_before_retry(state: WorkflowState, seconds: float) -> None:
    """Wait between step attempts; a cancellation ends the wait (and the run) at once."""
    if state.cancel_event.wait(seconds):
        state.check_cancelled()


async def _aattempts(opts: StepOptions, state: WorkflowState, call: Callable[[], Any]) -> Any:
    if not opts.retries_allowed:
        return await call()
    errors: list[BaseException] = []
    pause = opts.interval_seconds
    for attempt in range(1, opts.max_attempts + 1):
        try:
            return await call()
        except Exception as exc:
            errors.append(exc)
            if opts.should_retry is not None and not opts.should_retry(exc):
                raise
            if attempt == opts.max_attempts:
                break
            _log_retry(opts, state, attempt, pause, exc)
            await _cancellable_async_sleep(state, pause)
            pause *= opts.backoff_rate
    raise MaxStepRetriesExceeded(opts.name, errors)


def run_step(opts: StepOptions, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run a sync step durably: replay it if recorded, else run it and checkpoint it."""
    state = _durable_state()
    if state is None:
        return func(*args, **kwargs)
    if _in_event_loop():
        return off_loop(lambda: run_step(opts, func, args, kwargs))
    number = state.next_step()
    recorded = state.replayed(number, opts.name)
    if recorded is not None:
        return replay(recorded)
    state.check_cancelled()
    started_at = timezone.now()
    with context.in_step(state, number):
        try:
            result = _attempts(opts, state, lambda: func(*args, **kwargs))
        except WorkflowCancelled:
            raise
        except Exception as exc:
            _record_error(state, number, opts.name, exc, started_at)
            raise
    return _record_result(state, number, opts.name, result, started_at)


async def arun_step(opts: StepOptions, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run an ``async def`` step durably."""
    state = _durable_state()
    if state is None:
        return await func(*args, **kwargs)
    number = state.next_step()
    recorded = state.replayed(number, opts.name)
    if recorded is not None:
        return replay(recorded)
    state.check_cancelled()
    started_at = timezone.now()
    with context.in_step(state, number):
        try:
            result = await _aattempts(opts, state, lambda: func(*args, **kwargs))
        except WorkflowCancelled:
            raise
        except Exception as exc:
            await sync_to_async(_record_error)(state, number, opts.name, exc, started_at)
            raise
    return await sync_to_async(_record_result)(state, number, opts.name, result, started_at)


class _AlreadyRecorded(Exception):
    """Leaves a transaction whose checkpoint another executor wrote first."""


def _begin(using: str, isolation_level: str | None) -> None:
    connection = connections[using]
    if isolation_level and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation_level}")


def run_transaction(
    name: str,
    isolation_level: str | None,
    using: str | None,
    func: Callable[..., Any],
    args: Any,
    kwargs: Any,
) -> Any:
    """Run ``func`` in ``transaction.atomic()`` with its checkpoint in the same transaction."""
    alias = using or conf.database_alias()
    if _in_event_loop():
        return off_loop(lambda: run_transaction(name, isolation_level, using, func, args, kwargs))
    state = _durable_state()
    if state is None:
        outermost = not connections[alias].in_atomic_block
        with transaction.atomic(using=alias):
            if outermost:
                _begin(alias, isolation_level)
            return func(*args, **kwargs)
    if alias != conf.database_alias():
        raise ConfigurationError(
            f"@transaction(using={alias!r}) inside a workflow must use the durable database "
            f"{conf.database_alias()!r}, so its checkpoint commits with its body."
        )
    number = state.next_step()
    recorded = state.replayed(number, name)
    if recorded is not None:
        return replay(recorded)
    state.check_cancelled()
    started_at = timezone.now()
    outermost = not connections[alias].in_atomic_block
    try:
        with context.in_step(state, number), transaction.atomic(using=alias):
            if outermost:
                _begin(alias, isolation_level)
            result = func(*args, **kwargs)
            output = serialization.dumps(result)
            try:
                write_step(
                    state, number, name, output=output, started_at=started_at, savepoint=False
                )
            except IntegrityError:
                raise _AlreadyRecorded from None
    except _AlreadyRecorded:
        return replay(_existing_step(state.workflow_id, number))
    except WorkflowCancelled:
        raise
    except (OperationalError, InterfaceError) as exc:
        # The durable database itself failed under the transaction: not the step's fault.
        raise ExecutionInterrupted(f"Lost the database in transaction {name!r}: {exc}") from exc
    except Exception as exc:
        _record_error(state, number, name, exc, started_at)
        raise
    _completed(state, number, name, failed=False, started_at=started_at)
    return result


def sleep(seconds: float) -> None:
    """Durable sleep: the wake-up time is recorded, so a replay sleeps only what is left."""
    state = _durable_state()
    if state is None:
        time.sleep(seconds)
        return
    if _in_event_loop():
        raise InvalidStateError(
            "durable.sleep() would block the event loop of this async workflow; "
            "use 'await durable.sleep_async(seconds)'."
        )
    wake_at = _wake_time(state, seconds)
    remaining = (wake_at - timezone.now()).total_seconds()
    if remaining > 0 and state.cancel_event.wait(remaining):
        state.check_cancelled()


async def sleep_async(seconds: float) -> None:
    """Durable sleep for ``async def`` workflows."""
    state = _durable_state()
    if state is None:
        await asyncio.sleep(seconds)
        return
    wake_at = await sync_to_async(_wake_time)(state, seconds)
    await _cancellable_async_sleep(state, (wake_at - timezone.now()).total_seconds())


async def _cancellable_async_sleep(state: WorkflowState, seconds: float) -> None:
    """Sleep on the event loop, ending at once (with ``WorkflowCancelled``) on cancel."""
    deadline = time.monotonic() + seconds
    while True:
        state.check_cancelled()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, 0.1))


def _wake_time(state: WorkflowState, seconds: float) -> Any:
    number = state.next_step()
    recorded = state.replayed(number, SLEEP_STEP_NAME)
    if recorded is not None:
        return serialization.loads(recorded.output)
    wake_at = timezone.now() + timedelta(seconds=seconds)
    winner = write_step(
        state, number, SLEEP_STEP_NAME, output=serialization.dumps(wake_at), started_at=None
    )
    return serialization.loads(winner.output) if winner is not None else wake_at
