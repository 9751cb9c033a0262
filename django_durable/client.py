"""Enqueue workflows and read their results from a process that does not import their code.

Another service on the same database (a web tier, a script, a process in another
repository) calls ``enqueue`` with the workflow's registered name: the run is written as
``ENQUEUED`` and a worker that has the code executes it. The options are DBOS Transact's
``EnqueueOptions`` keys::

    from django_durable import client

    handle = client.enqueue(
        {"queue_name": "reports", "workflow_name": "build_report", "priority": 1},
        2026,
        11,
    )
    handle.get_result(timeout=60)

Arguments must be JSON with type tags, as for every run; they are checked before anything
is written. ``send`` and ``get_event`` are the package's own, so they work the same here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NotRequired, Required, TypedDict

from django.utils import timezone

from django_durable import registry, serialization
from django_durable.engine import control, messages, recorded, run_events, runs
from django_durable.engine import enqueue as enqueuing
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.exceptions import InvalidStateError
from django_durable.models import RunStatus, WorkflowRun
from django_durable.queue_store import retrieve_queue

__all__ = [
    "EnqueueOptions",
    "enqueue",
    "enqueue_async",
    "get_event",
    "get_event_async",
    "retrieve_workflow",
    "retrieve_workflow_async",
    "send",
    "send_async",
]

logger = logging.getLogger(__name__)


class EnqueueOptions(TypedDict, total=False):
    """What ``enqueue`` writes (DBOS Transact's keys)."""

    queue_name: Required[str]
    workflow_name: Required[str]
    workflow_class_name: NotRequired[str | None]
    workflow_id: NotRequired[str]
    deduplication_id: NotRequired[str]
    priority: NotRequired[int]
    app_version: NotRequired[str]
    queue_partition_key: NotRequired[str]


_TEXT_KEYS = (
    "queue_name",
    "workflow_name",
    "workflow_class_name",
    "workflow_id",
    "deduplication_id",
    "app_version",
    "queue_partition_key",
)


def _checked(options: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise TypeError(f"enqueue options must be a dict, got {options!r}.")
    allowed = set(EnqueueOptions.__annotations__)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"Unknown enqueue option(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(sorted(allowed))}."
        )
    for key in ("queue_name", "workflow_name"):
        if key not in options:
            raise ValueError(f"enqueue options need {key!r}.")
    checked = dict(options)
    for key in _TEXT_KEYS:
        value = checked.get(key)
        optional = key not in ("queue_name", "workflow_name")
        if (value is None and optional) or (isinstance(value, str) and value):
            continue
        raise ValueError(f"enqueue option {key!r} must be a non-empty string, got {value!r}.")
    priority = checked.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"enqueue option 'priority' must be an int, got {priority!r}.")
    if checked.get("deduplication_id") and checked.get("queue_partition_key"):
        raise ValueError(
            "deduplication_id cannot be combined with queue_partition_key: partitioned "
            "queues do not de-duplicate."
        )
    if checked["queue_name"] == registry.INTERNAL_QUEUE_NAME:
        raise ValueError(f"{registry.INTERNAL_QUEUE_NAME!r} is the internal queue.")
    return checked


def _check_queue(name: str, partition_key: str | None) -> None:
    """Refuse a partition key that does not fit the queue (when it is known here)."""
    queue = retrieve_queue(name)
    if queue is None:
        logger.warning(
            "Enqueueing on queue %s, which is not in the queue table yet: its runs wait "
            "until a worker that declares it (or register_queue) serves it",
            name,
            extra={"action": "client_unknown_queue", "queue": name},
        )
        return
    if queue.partition_queue and partition_key is None:
        raise InvalidStateError(
            f"Queue {name!r} is partitioned: give 'queue_partition_key' in the options."
        )
    if partition_key is not None and not queue.partition_queue:
        raise InvalidStateError(
            f"Queue {name!r} is not partitioned; 'queue_partition_key' cannot be used with it."
        )


@recorded.refused_in_workflows
def enqueue(
    options: EnqueueOptions | Mapping[str, Any], *args: Any, **kwargs: Any
) -> WorkflowHandle:
    """Enqueue a run of the workflow registered as ``options["workflow_name"]`` (a method
    of the durable class ``workflow_class_name``) on ``options["queue_name"]``; its handle.

    ``workflow_id`` makes the enqueue idempotent (an existing run of that id is not
    enqueued again; one of another workflow raises ``WorkflowConflict``);
    ``deduplication_id``, ``priority`` and ``queue_partition_key`` are the queue options;
    ``app_version`` limits it to workers of that application version (by default any
    worker takes it and it records that worker's version).
    """
    checked = _checked(options)
    _check_queue(checked["queue_name"], checked.get("queue_partition_key"))
    inputs = serialization.dumps({"args": list(args), "kwargs": kwargs})
    now = timezone.now()
    row = WorkflowRun(
        workflow_id=checked.get("workflow_id") or runs.new_workflow_id(),
        name=checked["workflow_name"],
        class_name=checked.get("workflow_class_name"),
        status=RunStatus.ENQUEUED,
        inputs=inputs,
        queue_name=checked["queue_name"],
        priority=checked.get("priority", 0),
        deduplication_id=checked.get("deduplication_id"),
        queue_partition_key=checked.get("queue_partition_key"),
        application_version=checked.get("app_version"),
        created_at=now,
        updated_at=now,
    )
    enqueuing.insert_enqueued(row)
    return WorkflowHandle(row.pk)


async def enqueue_async(
    options: EnqueueOptions | Mapping[str, Any], *args: Any, **kwargs: Any
) -> WorkflowHandle:
    """``enqueue`` for coroutines."""
    return await runtimes.current().run_sync(lambda: enqueue(options, *args, **kwargs))


def retrieve_workflow(workflow_id: str) -> WorkflowHandle:
    """A handle to an existing run; ``WorkflowNotFound`` if there is none."""
    return control.retrieve_workflow(workflow_id)


async def retrieve_workflow_async(workflow_id: str) -> WorkflowHandle:
    return await control.retrieve_workflow_async(workflow_id)


def send(
    destination_id: str,
    message: Any,
    topic: str | None = None,
    idempotency_key: str | None = None,
) -> None:
    """Send ``message`` to the run ``destination_id`` (``django_durable.send``)."""
    messages.send(destination_id, message, topic, idempotency_key)


async def send_async(
    destination_id: str,
    message: Any,
    topic: str | None = None,
    idempotency_key: str | None = None,
) -> None:
    await messages.send_async(destination_id, message, topic, idempotency_key)


def get_event(workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
    """The value run ``workflow_id`` set for ``key`` (``django_durable.get_event``)."""
    return run_events.get_event(workflow_id, key, timeout_seconds)


async def get_event_async(workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
    return await run_events.get_event_async(workflow_id, key, timeout_seconds)
