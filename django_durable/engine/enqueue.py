"""The one enqueue path: ``Queue.enqueue``, child enqueues inside workflows, the
``django.tasks`` backend and manual schedule triggers all write their run here.

An enqueue in autocommit is one statement and one commit: the INSERT (ignoring a
conflict) and, on PostgreSQL, the ``pg_notify`` that wakes idle workers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from django_durable import conf, context, error_records
from django_durable.context import Checkpoint, RunContext
from django_durable.db import NOTIFY_CHANNEL
from django_durable.engine import checkpoints, events, runs, steps, timeouts
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import QueueDeduplicatedError
from django_durable.models import IN_FLIGHT, RunStatus, WorkflowRun
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


def _holder(row: WorkflowRun) -> str | None:
    """The active run of ``row``'s queue that holds its deduplication id, if any."""
    return (
        WorkflowRun.objects.using(conf.database_alias())
        .filter(
            queue_name=row.queue_name,
            deduplication_id=row.deduplication_id,
            status__in=IN_FLIGHT,
        )
        .values_list("pk", flat=True)
        .first()
    )


def insert_or_return_existing(row: WorkflowRun, policy: str) -> tuple[str, bool]:
    """``insert_enqueued(row)`` as ``(workflow id, created)``; with the deduplication policy
    ``"return_existing"`` a duplicate returns the id of the run holding the deduplication
    id instead of raising ``QueueDeduplicatedError``."""
    while True:
        try:
            return row.pk, insert_enqueued(row)
        except QueueDeduplicatedError:
            if policy != "return_existing":
                raise
            holder = _holder(row)
            if holder is not None:  # else it finished meanwhile: the id is free again
                logger.debug(
                    "Deduplicated enqueue of %s on %s returns run %s",
                    row.name,
                    row.queue_name,
                    holder,
                    extra={"action": "run_deduplicated", "workflow_id": holder},
                )
                return holder, False


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
        policy: str,
    ) -> None:
        self.inv, self.fields, self.workflow_id = inv, fields, workflow_id
        self.run_after, self.parent, self.policy = run_after, parent, policy
        self.number = parent.next_number() if parent is not None else None

    def __call__(self) -> tuple[str, WorkflowRun | None]:
        if self.parent is None or self.number is None:
            row = _row(self.inv, self.workflow_id, self.fields, self.run_after)
            workflow_id, created = insert_or_return_existing(row, self.policy)
            return workflow_id, row if created else None
        return _child(self, self.parent, self.number)


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
    if run_after is None and options is not None and options.delay_seconds is not None:
        run_after = timezone.now() + timedelta(seconds=options.delay_seconds)
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
    policy = options.deduplication_policy if options else "reject"
    return _Enqueue(inv, fields, workflow_id, run_after, parent, policy)


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
        timeout=timeouts.for_new_run(parent, queued=True, now=timezone.now()),
        **extra,
    )
    row.run_after = run_after
    row.queue_partition_key = partition_key
    if version is not None:
        row.application_version = version
    return row


def _child(job: _Enqueue, parent: RunContext, number: int) -> tuple[str, WorkflowRun | None]:
    name = job.inv.info.name
    recorded = parent.replayed(number, name)
    if recorded is not None:
        if recorded.error is not None:
            raise error_records.decode_exception(recorded.error)
        return str(recorded.child_workflow_id), None
    parent.check_cancelled()
    checkpoints.flush(parent)
    chosen = job.workflow_id or context.take_workflow_id() or f"{parent.workflow_id}-{number}"
    row = _row(job.inv, chosen, job.fields, job.run_after, parent)
    try:
        workflow_id, created = insert_or_return_existing(row, job.policy)
    except QueueDeduplicatedError as exc:
        checkpoints.record_marker(
            parent, steps.error_checkpoint(number, name, exc, None, child_id=row.pk)
        )
        raise
    checkpoints.record_marker(
        parent, Checkpoint(step_number=number, step_name=name, child_workflow_id=workflow_id)
    )
    return workflow_id, row if created else None
