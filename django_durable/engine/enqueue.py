"""The one enqueue path: ``Queue.enqueue``, child enqueues inside workflows, the
``django.tasks`` backend and manual schedule triggers all write their run here.

An enqueue in autocommit is one statement and one commit: the INSERT (ignoring a
conflict) and, on PostgreSQL, the ``pg_notify`` that wakes idle workers.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django_durable import conf, context, error_records
from django_durable.context import Checkpoint, RunContext
from django_durable.db import NOTIFY_CHANNEL
from django_durable.engine import checkpoints, events, runs, steps
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import QueueDeduplicatedError
from django_durable.models import RunStatus, WorkflowRun
from django_durable.models import sql as run_sql
from django_durable.registry import WorkflowInfo

logger = logging.getLogger(__name__)


def insert_enqueued(row: WorkflowRun) -> bool:
    """Insert an ``ENQUEUED`` row and wake idle workers (one statement); ``False`` if a
    run with that id already exists (an idempotent enqueue). Raises
    ``QueueDeduplicatedError`` when its queue has an active run with its deduplication id,
    ``WorkflowConflict`` when the id belongs to another workflow."""
    using = conf.database_alias()
    if run_sql.insert_run(row, using, notify_channel=NOTIFY_CHANNEL):
        events.enqueued([row], using)
        logger.debug(
            "Enqueued workflow %s (%s) on %s",
            row.pk,
            row.name,
            row.queue_name,
            extra={"action": "run_enqueued", "workflow_id": row.pk, "queue": row.queue_name},
        )
        return True
    existing = run_sql.select_run(using, row.pk)
    if existing is None:
        raise QueueDeduplicatedError(
            f"Queue {row.queue_name!r} already has an active run with deduplication id "
            f"{row.deduplication_id!r}."
        )
    runs.check_same_workflow(existing, row, "enqueue")
    return False


def enqueue(
    info: WorkflowInfo,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    queue_name: str,
    workflow_id: str | None = None,
    schedule_name: str | None = None,
    priority: int | None = None,
    run_after: datetime | None = None,
) -> tuple[str, WorkflowRun | None]:
    """Enqueue a run of ``info`` on ``queue_name``; ``(workflow id, the new row)``, the row
    ``None`` when the run existed already.

    ``SetEnqueueOptions`` gives the priority (unless ``priority`` is given) and the
    deduplication id; ``SetWorkflowID`` (or ``workflow_id``) the id. Inside a workflow the
    run is a child (id ``<parent>-<step>``) and the enqueue is recorded as a step, so a
    replay returns the same id (or raises the same ``QueueDeduplicatedError``).
    """
    job = _prepare(info, args, kwargs, queue_name, workflow_id, schedule_name, priority, run_after)
    if steps.in_event_loop():
        result: tuple[str, WorkflowRun | None] = (
            steps.off_loop(job.parent, job) if job.parent else job()
        )
        return result
    return job()


async def enqueue_async(
    info: WorkflowInfo,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    queue_name: str,
    workflow_id: str | None = None,
    priority: int | None = None,
    run_after: datetime | None = None,
) -> tuple[str, WorkflowRun | None]:
    """``enqueue`` for coroutines: numbered when called, written off the event loop."""
    job = _prepare(info, args, kwargs, queue_name, workflow_id, None, priority, run_after)
    return await runtimes.current().run_sync(job)


class _Enqueue:
    """One enqueue, resolved and (inside a workflow) numbered where it was called."""

    def __init__(
        self,
        inv: runs.Invocation,
        fields: dict[str, Any],
        workflow_id: str | None,
        run_after: datetime | None,
        parent: RunContext | None,
    ) -> None:
        self.inv, self.fields, self.workflow_id = inv, fields, workflow_id
        self.run_after, self.parent = run_after, parent
        self.number = parent.next_number() if parent is not None else None

    def __call__(self) -> tuple[str, WorkflowRun | None]:
        if self.parent is None or self.number is None:
            row = _row(self.inv, self.workflow_id, self.fields, self.run_after)
            return row.pk, row if insert_enqueued(row) else None
        return _child(
            self.parent, self.number, self.inv, self.workflow_id, self.fields, self.run_after
        )


def _prepare(
    info: WorkflowInfo,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    queue_name: str,
    workflow_id: str | None,
    schedule_name: str | None,
    priority: int | None,
    run_after: datetime | None,
) -> _Enqueue:
    inv = runs.resolve(info, args, kwargs)
    options = context.enqueue_options()
    fields: dict[str, Any] = {
        "queue_name": queue_name,
        "schedule_name": schedule_name,
        "priority": priority if priority is not None else (options and options.priority) or 0,
        "deduplication_id": options.deduplication_id if options else None,
        "queue_partition_key": options.queue_partition_key if options else None,
        "application_version": options.app_version if options else None,
    }
    parent = steps.durable_run()
    if parent is None:
        workflow_id = workflow_id or context.take_workflow_id()
    return _Enqueue(inv, fields, workflow_id, run_after, parent)


def _row(
    inv: runs.Invocation,
    workflow_id: str | None,
    fields: dict[str, Any],
    run_after: datetime | None,
    parent: RunContext | None = None,
) -> WorkflowRun:
    extra = dict(fields)
    partition_key, version = extra.pop("queue_partition_key"), extra.pop("application_version")
    row = runs.new_run(
        inv,
        workflow_id or runs.new_workflow_id(),
        executor_id=parent.executor_id if parent else runtimes.current().executor_id,
        status=RunStatus.ENQUEUED,
        parent_id=parent.workflow_id if parent else None,
        **extra,
    )
    row.run_after = run_after
    row.queue_partition_key = partition_key
    if version is not None:
        row.application_version = version
    return row


def _child(
    parent: RunContext,
    number: int,
    inv: runs.Invocation,
    workflow_id: str | None,
    fields: dict[str, Any],
    run_after: datetime | None,
) -> tuple[str, WorkflowRun | None]:
    name = inv.info.name
    recorded = parent.replayed(number, name)
    if recorded is not None:
        if recorded.error is not None:
            raise error_records.decode_exception(recorded.error)
        return str(recorded.child_workflow_id), None
    parent.check_cancelled()
    checkpoints.flush(parent)
    chosen = workflow_id or context.take_workflow_id() or f"{parent.workflow_id}-{number}"
    row = _row(inv, chosen, fields, run_after, parent)
    try:
        created = insert_enqueued(row)
    except QueueDeduplicatedError as exc:
        checkpoints.record_marker(
            parent, steps.error_checkpoint(number, name, exc, None, child_id=row.pk)
        )
        raise
    checkpoints.record_marker(
        parent, Checkpoint(step_number=number, step_name=name, child_workflow_id=row.pk)
    )
    return row.pk, row if created else None
