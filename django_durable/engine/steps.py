"""Steps: each checkpointed as one ``StepOutput`` row, replayed from it after a restart.

One core, two thin drivers. A step gets its number when it is *called*, in call order,
from the run in the caller's context (so ``asyncio.gather(a(), b(), c())`` numbers a, b,
c before any of them runs); the body runs with that number as the context's current step,
set and reset with its token, so concurrent steps of one run never share it. The same
core runs child workflows (a step whose body is the child) and recorded calls.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.utils import timezone

from django_durable import context, error_records, serialization, tracing
from django_durable.context import Checkpoint, RecordedStep, RunContext
from django_durable.engine import checkpoints, threads
from django_durable.engine.retries import Attempts, StepOptions
from django_durable.exceptions import (
    InvalidStateError,
    SerializationError,
    StepTimeout,
    WorkflowCancelled,
)

logger = logging.getLogger(__name__)

Body = Callable[[], Any]


def in_event_loop() -> bool:
    return asyncio._get_running_loop() is not None


def durable_run() -> RunContext | None:
    """The run a durable call made here belongs to; ``None`` where it is a plain call
    (outside any workflow, or inside a step).

    A thread that a workflow started without passing its context cannot record anything
    in the right order: calling a durable function there is refused.
    """
    run = context.workflow_body()
    if run is not None or context.current() is not None:
        return run
    orphaned = threads.run_of_this_thread()
    if orphaned is not None:
        raise InvalidStateError(
            f"A durable function was called in a thread that workflow "
            f"{orphaned.workflow_id!r} started without its context, so it cannot be "
            f"recorded in order. Start the thread with the context "
            f"(threading.Thread(target=contextvars.copy_context().run, args=(fn,)) or "
            f"'await asyncio.to_thread(fn)'), or call it from the workflow itself."
        )
    return None


def replay(recorded: RecordedStep) -> Any:
    """Return the recorded output, or raise the recorded error, of a step."""
    logger.debug(
        "Replaying step %d (%s)",
        recorded.step_number,
        recorded.step_name,
        extra={"action": "step_replayed", "step_name": recorded.step_name},
    )
    if recorded.error is not None:
        raise error_records.decode_exception(recorded.error)
    return serialization.loads(recorded.output)


def error_checkpoint(
    number: int, name: str, exc: BaseException, started_at: Any, child_id: str | None = None
) -> Checkpoint:
    return Checkpoint(
        step_number=number,
        step_name=name,
        error=error_records.encode_exception(exc),
        child_workflow_id=child_id,
        started_at=started_at,
        completed_at=timezone.now(),
    )


def result_checkpoint(
    number: int, name: str, result: Any, started_at: Any, child_id: str | None = None
) -> tuple[Checkpoint, SerializationError | None]:
    """The checkpoint of a returned value; a value that is not JSON fails the step."""
    try:
        output = serialization.dumps(result)
    except SerializationError as exc:
        return error_checkpoint(number, name, exc, started_at, child_id), exc
    return (
        Checkpoint(
            step_number=number,
            step_name=name,
            output=output,
            child_workflow_id=child_id,
            started_at=started_at,
            completed_at=timezone.now(),
        ),
        None,
    )


# ---------------------------------------------------------------- the sync driver


def begin(run: RunContext) -> None:
    while batch := checkpoints.starting(run):
        checkpoints.write(run, batch)


def end(run: RunContext, checkpoint: Checkpoint) -> None:
    if batch := checkpoints.ending(run, checkpoint):
        checkpoints.write(run, batch)


def execute(
    run: RunContext,
    number: int,
    name: str,
    body: Body,
    *,
    opts: StepOptions | None = None,
    child_id: str | None = None,
) -> Any:
    """Replay step ``number`` if recorded; else run ``body`` (with ``opts``' retries) and
    checkpoint its outcome."""
    recorded = run.replayed(number, name)
    if recorded is not None:
        return replay(recorded)
    run.check_cancelled()
    begin(run)
    started_at = timezone.now()
    with tracing.step_span(workflow_id=run.workflow_id, number=number, name=name) as span:
        try:
            with context.in_step(number):
                result = body() if opts is None else _attempts(run, opts, body, span)
        except WorkflowCancelled:
            checkpoints.abandoned(run)
            raise
        except Exception as exc:
            tracing.set_status(span, "ERROR", exc)
            end(run, error_checkpoint(number, name, exc, started_at, child_id))
            raise
        except BaseException:
            checkpoints.abandoned(run)
            raise
        tracing.set_status(span, "SUCCESS")
    checkpoint, problem = result_checkpoint(number, name, result, started_at, child_id)
    end(run, checkpoint)
    if problem is not None:
        raise problem
    return result


def _attempts(run: RunContext, opts: StepOptions, body: Body, span: Any = None) -> Any:
    if not opts.retries_allowed:
        return body()
    attempts = Attempts(opts, run.workflow_id)
    while True:
        tracing.set_attempts(span, len(attempts.errors) + 1)
        try:
            with context.in_attempt(len(attempts.errors), opts.max_attempts):
                return body()
        except Exception as exc:
            worth = True if opts.should_retry is None else bool(opts.should_retry(exc))
            pause = attempts.failed(exc, worth)
            if pause is None:
                raise
        pause_before_retry(run, pause)


def pause_before_retry(run: RunContext, seconds: float) -> None:
    """Wait between step attempts; a cancellation ends the wait (and the run) at once."""
    if run.cancel_event.wait(seconds):
        run.check_cancelled()


def off_loop(run: RunContext, fn: Callable[[], Any]) -> Any:
    """Run sync durable work called on an event loop on one of the runtime's threads (in
    this context), blocking this caller as any sync call does."""
    return run.runtime.call_off_loop(fn)


def run_step(opts: StepOptions, func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """A call of a sync ``@step``."""
    run = durable_run()
    if run is None:
        return func(*args, **kwargs)
    number = run.next_number()

    def body() -> Any:
        return func(*args, **kwargs)

    if in_event_loop():
        return off_loop(run, lambda: execute(run, number, opts.name, body, opts=opts))
    return execute(run, number, opts.name, body, opts=opts)


# ---------------------------------------------------------------- the async driver


async def abegin(run: RunContext) -> None:
    while batch := checkpoints.starting(run):
        await run.runtime.run_sync(lambda: checkpoints.write(run, batch))


async def aend(run: RunContext, checkpoint: Checkpoint) -> None:
    if batch := checkpoints.ending(run, checkpoint):
        await run.runtime.run_sync(lambda: checkpoints.write(run, batch))


async def aexecute(
    run: RunContext,
    number: int,
    name: str,
    body: Callable[[], Awaitable[Any]],
    *,
    opts: StepOptions | None = None,
    child_id: str | None = None,
) -> Any:
    """``execute`` for a body that is awaited."""
    recorded = run.replayed(number, name)
    if recorded is not None:
        return replay(recorded)
    run.check_cancelled()
    await abegin(run)
    started_at = timezone.now()
    with tracing.step_span(workflow_id=run.workflow_id, number=number, name=name) as span:
        try:
            with context.in_step(number):
                result = await (body() if opts is None else _aattempts(run, opts, body, span))
        except WorkflowCancelled:
            checkpoints.abandoned(run)
            raise
        except Exception as exc:
            tracing.set_status(span, "ERROR", exc)
            await aend(run, error_checkpoint(number, name, exc, started_at, child_id))
            raise
        except BaseException:
            checkpoints.abandoned(run)
            raise
        tracing.set_status(span, "SUCCESS")
    checkpoint, problem = result_checkpoint(number, name, result, started_at, child_id)
    await aend(run, checkpoint)
    if problem is not None:
        raise problem
    return result


async def _aattempts(
    run: RunContext, opts: StepOptions, body: Callable[[], Awaitable[Any]], span: Any = None
) -> Any:
    if not opts.retries_allowed:
        return await body()
    attempts = Attempts(opts, run.workflow_id)
    while True:
        tracing.set_attempts(span, len(attempts.errors) + 1)
        try:
            with context.in_attempt(len(attempts.errors), opts.max_attempts):
                return await body()
        except Exception as exc:
            worth: Any = True
            if opts.should_retry is not None:
                worth = opts.should_retry(exc)
                if inspect.isawaitable(worth):
                    worth = await worth
            pause = attempts.failed(exc, bool(worth))
            if pause is None:
                raise
        await cancellable_sleep(run, pause)


async def cancellable_sleep(run: RunContext, seconds: float) -> None:
    """Sleep on the event loop; a cancel of the run ends it at once with
    ``WorkflowCancelled``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        run.check_cancelled()
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, 0.1))


def call_async_step(
    opts: StepOptions, func: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Awaitable[Any]:
    """A call of an ``async def`` ``@step``: numbered now, run when awaited."""
    run = durable_run()
    if run is None:
        return func(*args, **kwargs)
    number = run.next_number()
    if opts.timeout_seconds is not None:
        return aexecute(
            run, number, opts.name, lambda: _timed(opts, func(*args, **kwargs)), opts=opts
        )
    return aexecute(run, number, opts.name, lambda: func(*args, **kwargs), opts=opts)


async def _timed(opts: StepOptions, attempt: Awaitable[Any]) -> Any:
    """One attempt of an ``async def`` step, cancelled after ``opts.timeout_seconds``."""
    seconds = float(opts.timeout_seconds or 0)
    try:
        async with asyncio.timeout(seconds) as limit:
            return await attempt
    except TimeoutError:
        if not limit.expired():
            raise  # the step's own TimeoutError
        raise StepTimeout(
            f"Step {opts.name!r} did not finish within {seconds:g} seconds; it was cancelled."
        ) from None
