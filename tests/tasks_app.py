"""``django.tasks`` tasks the backend tests run (Django 6 and later).

Module level, so the durable backend registers them by module path when this module is
imported with a ``DurableBackend`` configured (``test_tasks_backend.py`` imports it so).
Bodies count their executions in ``CALLS``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.tasks import task

import django_durable as durable

CALLS: Counter[str] = Counter()

QUEUE = durable.Queue("tasks-default")
OTHER_QUEUE = durable.Queue("tasks-other")


class TaskFailed(Exception):
    """A user-defined error a failed task result names by its class path."""


@task(queue_name="tasks-default")
def add(a: int, b: int) -> int:
    CALLS["add"] += 1
    return a + b


@task(queue_name="tasks-default")
def fail(message: str) -> None:
    CALLS["fail"] += 1
    raise TaskFailed(message)


@task(queue_name="tasks-default")
def returns_a_datetime() -> Any:
    return datetime(2030, 1, 2, tzinfo=UTC)


@task(queue_name="tasks-default", takes_context=True)
def with_context(context: Any, x: int) -> dict[str, Any]:
    return {
        "id": context.task_result.id,
        "attempt": context.attempt,
        "status": str(context.task_result.status),
        "x": x,
        "workflow_id": durable.workflow_id(),
    }


@task(queue_name="tasks-default")
async def async_double(x: int) -> int:
    CALLS["async_double"] += 1
    return x * 2


@durable.step()
def first_step(x: int) -> int:
    CALLS["first_step"] += 1
    return x + 1


@durable.step()
def second_step(x: int) -> int:
    CALLS["second_step"] += 1
    return x * 10


@task(queue_name="tasks-default")
def stepped(x: int) -> int:
    """Two checkpointed steps around a durable sleep."""
    y = first_step(x)
    durable.sleep(0)
    return second_step(y)


@task(queue_name="tasks-default")
def scheduled(scheduled_at: datetime, context: Any) -> list[Any]:
    return [scheduled_at.isoformat(), context, durable.workflow_id()]


@task(queue_name="tasks-default", takes_context=True)
def scheduled_with_context(context: Any, scheduled_at: datetime, schedule_context: Any) -> Any:
    return {"id": context.task_result.id, "at": scheduled_at.isoformat(), "ctx": schedule_context}


@task(queue_name="tasks-default")
def takes_three(a: Any, b: Any, c: Any) -> None:
    return None


def not_a_durable_task(scheduled_at: datetime, context: Any) -> None:
    """Made a task of another backend by a test."""


@durable.workflow()
def enqueues_add(x: int) -> str:
    """A workflow that enqueues a task: the enqueue is its step 1."""
    return str(add.enqueue(x, 1).id)
