"""What ``recv``, ``get_event`` and ``read_stream`` share: checking their arguments, and
waiting inside a workflow for something another run writes (in place for a while, then,
for a worker's run, parked), bounded by the wait's recorded end and the run's deadline.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django_durable import context
from django_durable.context import RunContext
from django_durable.engine import parking, steps, timeouts, wakeups
from django_durable.exceptions import InvalidStateError

MAX_NAME = 255
"""The longest topic, event key or stream key (they are stored in 255-character columns)."""


def check_name(value: Any, what: str, *, optional: bool = False) -> str | None:
    """A topic or key: a string of at most 255 characters (``None`` if ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME:
        allowed = "a string of at most 255 characters" + (" or None" if optional else "")
        raise ValueError(f"{what} must be {allowed}, got {value!r}.")
    return value


def check_workflow_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"A workflow id must be a non-empty string, got {value!r}.")
    return value


def check_timeout(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or value < 0
        or value > 10**9
    ):
        raise ValueError(f"timeout_seconds must be a number of seconds >= 0, got {value!r}.")
    return float(value)


def workflow_run(api: str) -> RunContext:
    """The run whose body calls ``api``; ``InvalidStateError`` anywhere else."""
    run = steps.durable_run()
    if run is None:
        where = "inside a step" if context.current() is not None else "outside a workflow"
        raise InvalidStateError(
            f"{api}() must be called from a workflow's body, not {where}: it is recorded as "
            f"a step of the workflow."
        )
    return run


def owner(api: str) -> tuple[RunContext | None, str]:
    """``(the run whose body calls api or None inside a step, the calling run's id)``;
    ``InvalidStateError`` outside any workflow."""
    run = steps.durable_run()
    current = run or context.current()
    if current is None:
        raise InvalidStateError(f"{api}() must be called inside a workflow (or one of its steps).")
    return run, current.workflow_id


def refuse_on_loop(api: str) -> None:
    if steps.in_event_loop():
        raise InvalidStateError(
            f"durable.{api}() would block the event loop of this async workflow; use "
            f"'await durable.{api}_async(...)'."
        )


def _present(has_it: Callable[[], bool]) -> Callable[[], bool | None]:
    return lambda: True if has_it() else None


def wait(
    run: RunContext,
    key: str,
    until_at: datetime,
    has_it: Callable[[], bool],
    park: Callable[[], bool],
) -> None:
    """Wait until ``has_it()`` or ``until_at``. A run that may park waits in place for
    ``PARK_THRESHOLD`` seconds, then ``park()`` (``True``: parked, the run unwinds with
    ``Parked``; ``False``: it came meanwhile). Past the run's deadline it times out."""
    with parking.waiting(run):
        while True:
            end = timeouts.bounded(run, until_at)
            left = wakeups.seconds_until(end)
            if left <= 0:
                break
            limit = wakeups.monotonic_until(parking.in_place(run, left))
            found = wakeups.wait_for(
                run.runtime.wakeups, key, _present(has_it), limit, cancelled=run.check_cancelled
            )
            if found:
                return
            left = wakeups.seconds_until(end)
            if left > 0 and parking.may_park(run, left):
                if park():
                    raise parking.Parked(run.workflow_id)
                return
    if timeouts.bounded(run, until_at) < until_at:
        timeouts.check(run)


async def await_(
    run: RunContext,
    key: str,
    until_at: datetime,
    has_it: Callable[[], bool],
    park: Callable[[], bool],
) -> None:
    """``wait`` for ``async def`` workflows (the database work off the event loop)."""
    runtime = run.runtime

    async def check() -> bool | None:
        return await runtime.run_sync(_present(has_it))  # type: ignore[no-any-return]

    with parking.waiting(run):
        while True:
            end = timeouts.bounded(run, until_at)
            left = wakeups.seconds_until(end)
            if left <= 0:
                break
            limit = wakeups.monotonic_until(parking.in_place(run, left))
            found = await wakeups.await_for(
                runtime.wakeups, key, check, limit, cancelled=run.check_cancelled
            )
            if found:
                return
            left = wakeups.seconds_until(end)
            if left > 0 and parking.may_park(run, left):
                if await runtime.run_sync(park):
                    raise parking.Parked(run.workflow_id)
                return
    if timeouts.bounded(run, until_at) < until_at:
        await runtime.run_sync(lambda: timeouts.check(run))
