"""Durable sleep: the wake-up time is recorded, so a recovered run sleeps only what is left.

A sleep ends early at the run's deadline (then the run times out). A worker's run that
would sleep longer than ``DURABLE["PARK_THRESHOLD"]`` parks instead of holding a thread.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from django_durable import serialization
from django_durable.context import Checkpoint, RunContext
from django_durable.engine import checkpoints, parking, steps, timeouts
from django_durable.exceptions import InvalidStateError
from django_durable.models import WaitingFor

SLEEP_STEP_NAME = "durable.sleep"


def wake_time(run: RunContext, number: int, seconds: float) -> datetime:
    """The recorded wake-up time of sleep ``number``, recorded now if it is new."""
    recorded = run.replayed(number, SLEEP_STEP_NAME)
    if recorded is not None:
        return serialization.loads(recorded.output)  # type: ignore[no-any-return]
    run.check_cancelled()
    now = timezone.now()
    wake_at = now + timedelta(seconds=seconds)
    checkpoints.record_marker(
        run,
        Checkpoint(
            step_number=number,
            step_name=SLEEP_STEP_NAME,
            output=serialization.dumps(wake_at),
            started_at=now,
            completed_at=now,
        ),
    )
    return wake_at


def _check_seconds(seconds: Any) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
        raise ValueError(f"seconds must be a number, got {seconds!r}.")
    return max(float(seconds), 0.0)


def sleep(seconds: float) -> None:
    """Durable sleep inside a workflow (a plain ``time.sleep`` elsewhere)."""
    seconds = _check_seconds(seconds)
    run = steps.durable_run()
    if run is None:
        time.sleep(seconds)
        return
    if steps.in_event_loop():
        raise InvalidStateError(
            "durable.sleep() would block the event loop of this async workflow; "
            "use 'await durable.sleep_async(seconds)'."
        )
    sleep_until(run, wake_time(run, run.next_number(), seconds))


def sleep_until(run: RunContext, wake_at: datetime) -> None:
    """Wait until ``wake_at`` (or the run's deadline: then it times out), or park."""
    with parking.waiting(run):
        until = timeouts.bounded(run, wake_at)
        remaining = (until - timezone.now()).total_seconds()
        if parking.may_park(run, remaining) and parking.park(run, wake_at, WaitingFor.SLEEP):
            raise parking.Parked(run.workflow_id)
        if remaining > 0 and run.cancel_event.wait(remaining):
            run.check_cancelled()
        if until < wake_at:
            timeouts.check(run)


async def sleep_async(seconds: float) -> None:
    """Durable sleep for ``async def`` workflows."""
    seconds = _check_seconds(seconds)
    run = steps.durable_run()
    if run is None:
        await asyncio.sleep(seconds)
        return
    await _sleep_async(run, run.next_number(), seconds)


async def _sleep_async(run: RunContext, number: int, seconds: float) -> None:
    if run.recorded.get(number) is not None:
        wake_at = wake_time(run, number, seconds)
    else:
        wake_at = await run.runtime.run_sync(lambda: wake_time(run, number, seconds))
    await asleep_until(run, wake_at)


async def asleep_until(run: RunContext, wake_at: datetime) -> None:
    """``sleep_until`` for ``async def`` workflows."""
    with parking.waiting(run):
        until = timeouts.bounded(run, wake_at)
        remaining = (until - timezone.now()).total_seconds()
        if parking.may_park(run, remaining) and await run.runtime.run_sync(
            lambda: parking.park(run, wake_at, WaitingFor.SLEEP)
        ):
            raise parking.Parked(run.workflow_id)
        await steps.cancellable_sleep(run, remaining)
        if until < wake_at:
            await run.runtime.run_sync(lambda: timeouts.check(run))
