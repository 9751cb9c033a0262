"""``*_async`` variants of the schedule functions: each runs its sync twin off the event
loop, on a thread of the runtime (the same arguments, the same result; inside a workflow
recorded or refused the same way)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django_durable.engine import runtime as runtimes
from django_durable.schedules import public

T = TypeVar("T")


async def _off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await runtimes.current().run_sync(lambda: fn(*args, **kwargs))


async def create_schedule_async(**kwargs: Any) -> dict[str, Any]:
    """``create_schedule`` for coroutines."""
    return await _off_loop(public.create_schedule, **kwargs)


async def list_schedules_async(**filters: Any) -> list[dict[str, Any]]:
    """``list_schedules`` for coroutines."""
    return await _off_loop(public.list_schedules, **filters)


async def get_schedule_async(name: str) -> dict[str, Any] | None:
    """``get_schedule`` for coroutines."""
    return await _off_loop(public.get_schedule, name)


async def pause_schedule_async(name: str) -> bool:
    """``pause_schedule`` for coroutines."""
    return await _off_loop(public.pause_schedule, name)


async def resume_schedule_async(name: str) -> bool:
    """``resume_schedule`` for coroutines."""
    return await _off_loop(public.resume_schedule, name)


async def delete_schedule_async(name: str) -> bool:
    """``delete_schedule`` for coroutines."""
    return await _off_loop(public.delete_schedule, name)


async def apply_schedules_async(entries: Any) -> list[dict[str, Any]]:
    """``apply_schedules`` for coroutines."""
    return await _off_loop(public.apply_schedules, list(entries))


async def trigger_schedule_async(name: str) -> Any:
    """``trigger_schedule`` for coroutines; the handle of the run."""
    return await _off_loop(public.trigger_schedule, name)


async def backfill_schedule_async(*args: Any, **kwargs: Any) -> list[Any]:
    """``backfill_schedule`` for coroutines; a handle per slot."""
    return await _off_loop(public.backfill_schedule, *args, **kwargs)
