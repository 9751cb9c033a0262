"""Operations on stored runs: retrieve, list, cancel, resume, fork and recover."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError
from django.db.models import Q
from django.utils import timezone

from django_durable import conf, context, registry
from django_durable.db import exclusive_transaction, notify
from django_durable.engine import events, recorded, run_events, runs
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.engine.recovery import recover_pending_workflows
from django_durable.exceptions import InvalidStateError, WorkflowConflict
from django_durable.models import (
    IN_FLIGHT,
    RunStatus,
    StepOutput,
    StreamEntry,
    WorkflowEvent,
    WorkflowRun,
)
from django_durable.values import WorkflowStatus

__all__ = [
    "cancel_workflow",
    "fork_workflow",
    "fork_workflow_async",
    "list_workflows",
    "list_workflows_async",
    "recover_pending_workflows",
    "resume_workflow",
    "retrieve_workflow",
    "retrieve_workflow_async",
]

logger = logging.getLogger(__name__)

LIST_WORKFLOWS_STEP = "durable.list_workflows"


def retrieve_workflow(workflow_id: str) -> WorkflowHandle:
    """A handle to an existing run; ``WorkflowNotFound`` if there is none."""
    runs.fetch(workflow_id)
    return WorkflowHandle(workflow_id)


async def retrieve_workflow_async(workflow_id: str) -> WorkflowHandle:
    """``retrieve_workflow`` for coroutines."""
    return await runtimes.current().run_sync(lambda: retrieve_workflow(workflow_id))


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def list_workflows(
    *,
    workflow_ids: Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
    name: str | Iterable[str] | None = None,
    queue_name: str | Iterable[str] | None = None,
    schedule_name: str | Iterable[str] | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    limit: int | None = None,
    offset: int | None = 0,
    sort_desc: bool = False,
    workflow_id_prefix: str | Iterable[str] | None = None,
    executor_id: str | Iterable[str] | None = None,
    parent_workflow_id: str | Iterable[str] | None = None,
    app_version: str | Iterable[str] | None = None,
    forked_from: str | Iterable[str] | None = None,
    queues_only: bool = False,
    load_input: bool = True,
    load_output: bool = True,
) -> list[WorkflowStatus]:
    """Runs matching every given filter (a str or a list each), oldest first by default.

    ``start_time`` / ``end_time`` (datetimes or ISO 8601 strings) bound the creation time
    (inclusive / exclusive); ``workflow_id_prefix`` matches the start of the id;
    ``queues_only`` keeps runs of a queue that are enqueued or executing (unless a
    ``status`` is given). ``load_input`` / ``load_output`` false leave ``input`` /
    ``output`` and ``error`` out (``None``). Inside a workflow the call is recorded as a
    step.
    """
    filters = dict(locals())
    return recorded.recorded(
        LIST_WORKFLOWS_STEP,
        lambda: filtered(**filters),
        encode=recorded.encode_statuses,
        decode=recorded.decode_statuses,
    )


async def list_workflows_async(**filters: Any) -> list[WorkflowStatus]:
    """``list_workflows`` for coroutines (the same keyword filters)."""
    return await runtimes.current().run_sync(lambda: list_workflows(**filters))


def _instant(value: datetime | str | None, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} must be a datetime or an ISO 8601 string, got {value!r}."
        ) from None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


MAX_COUNT = 2**31 - 1
"""The largest ``limit`` or ``offset`` (the bound of an integer column everywhere)."""


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{what} must be an int from 0 to {MAX_COUNT}, got {value!r}.")
    return value


def filtered(
    *,
    workflow_ids: Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
    name: str | Iterable[str] | None = None,
    queue_name: str | Iterable[str] | None = None,
    schedule_name: str | Iterable[str] | None = None,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    limit: int | None = None,
    offset: int | None = 0,
    sort_desc: bool = False,
    workflow_id_prefix: str | Iterable[str] | None = None,
    executor_id: str | Iterable[str] | None = None,
    parent_workflow_id: str | Iterable[str] | None = None,
    app_version: str | Iterable[str] | None = None,
    forked_from: str | Iterable[str] | None = None,
    queues_only: bool = False,
    load_input: bool = True,
    load_output: bool = True,
) -> list[WorkflowStatus]:
    """What ``list_workflows`` returns, read now (never recorded)."""
    qs = WorkflowRun.objects.using(conf.database_alias()).all()
    for field, value in (
        ("workflow_id", workflow_ids),
        ("status", status),
        ("name", name),
        ("queue_name", queue_name),
        ("schedule_name", schedule_name),
        ("executor_id", executor_id),
        ("parent_id", parent_workflow_id),
        ("application_version", app_version),
        ("forked_from", forked_from),
    ):
        values = _as_list(value)
        if values is not None:
            qs = qs.filter(**{f"{field}__in": values})
    prefixes = _as_list(workflow_id_prefix)
    if prefixes is not None:
        condition = Q(pk__in=[])
        for prefix in prefixes:
            condition |= Q(workflow_id__startswith=prefix)
        qs = qs.filter(condition)
    if queues_only:
        qs = qs.filter(queue_name__isnull=False)
        if status is None:
            qs = qs.filter(status__in=IN_FLIGHT)
    start, end = _instant(start_time, "start_time"), _instant(end_time, "end_time")
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lt=end)
    if not load_input:
        qs = qs.defer("inputs")
    if not load_output:
        qs = qs.defer("output", "error")
    order = ("-created_at", "-workflow_id") if sort_desc else ("created_at", "workflow_id")
    first = _count(offset or 0, "offset")
    limit = None if limit is None else _count(limit, "limit")
    qs = qs.order_by(*order)[first : (first + limit) if limit is not None else None]
    return [run.to_status(load_input=load_input, load_output=load_output) for run in qs]


def cancel_workflow(workflow_id: str) -> bool:
    """Cancel an enqueued or running run: its remaining steps do not run.

    ``True`` if it was cancelled now, ``False`` if it had already finished.
    """
    run = runs.fetch(workflow_id)
    cancelled = run.cancel()
    runtimes.request_cancel(workflow_id)
    if cancelled:
        events.finished(run, RunStatus.CANCELLED, conf.database_alias())
        logger.info(
            "Workflow %s cancelled",
            workflow_id,
            extra={"action": "workflow_cancelled", "workflow_id": workflow_id},
        )
    return cancelled


def resume_workflow(workflow_id: str) -> WorkflowHandle:
    """Run a cancelled, failed or given-up run again from its last recorded step.

    The run is enqueued on the internal queue, which every worker serves without limits:
    a worker (``manage.py runscheduler``) executes it, replaying its recorded steps. An
    enqueued run moves there too, so it starts without waiting for its queue.
    """
    run = runs.fetch(workflow_id)
    if run.status == RunStatus.SUCCESS:
        raise InvalidStateError(f"Workflow {workflow_id!r} already succeeded; nothing to resume.")
    if run.status == RunStatus.PENDING:
        raise InvalidStateError(f"Workflow {workflow_id!r} is running; it cannot be resumed.")
    registry.get_workflow(run.name)  # fail here, not on a worker, if the code is gone
    alias = conf.database_alias()
    with exclusive_transaction(alias):
        if not run.requeue(registry.INTERNAL_QUEUE_NAME):
            raise InvalidStateError(
                f"Workflow {workflow_id!r} changed while being resumed; it is "
                f"{runs.fetch(workflow_id).status} now."
            )
        notify(alias, registry.INTERNAL_QUEUE_NAME)
        events.enqueued([run], alias)
    logger.info(
        "Workflow %s resumed",
        workflow_id,
        extra={"action": "workflow_resumed", "workflow_id": workflow_id},
    )
    return WorkflowHandle(workflow_id)


def failed_step(workflow_id: str) -> int:
    """The step a retry of a run should start from: its first step that recorded an error,
    else the step after its last recorded one (the workflow body itself failed)."""
    steps = StepOutput.objects.using(conf.database_alias()).filter(run_id=workflow_id)
    failed = steps.filter(error__isnull=False).order_by("step_number").first()
    if failed is not None:
        return int(failed.step_number)
    last = steps.order_by("-step_number").values_list("step_number", flat=True).first()
    return int(last or 0) + 1


def fork_workflow(
    workflow_id: str,
    start_step: int,
    *,
    application_version: str | None = None,
    queue_name: str | None = None,
    queue_partition_key: str | None = None,
) -> WorkflowHandle:
    """Start a new run of the same workflow and inputs that keeps steps before ``start_step``.

    The new run's id comes from ``SetWorkflowID`` or is a new UUID. It is enqueued on
    ``queue_name`` (with ``queue_partition_key`` on a partitioned queue), by default on the
    internal queue, which every worker serves without limits. It runs under
    ``application_version`` (only workers of that version take it), by default unversioned
    (any worker takes it).
    """
    if isinstance(start_step, bool) or not isinstance(start_step, int) or start_step < 1:
        raise ValueError(f"start_step must be an int >= 1, got {start_step!r}.")
    for what, value in (
        ("application_version", application_version),
        ("queue_name", queue_name),
        ("queue_partition_key", queue_partition_key),
    ):
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"{what} must be a non-empty string or None, got {value!r}.")
    if queue_name is not None:
        from django_durable.queue_store import unknown_queue_names

        if unknown_queue_names([queue_name]):
            raise InvalidStateError(
                f"Cannot fork {workflow_id!r} onto queue {queue_name!r}: no queue has that "
                f"name (declare it, or register it with register_queue)."
            )
    source = runs.fetch(workflow_id)
    registry.get_workflow(source.name)
    new_id = context.take_workflow_id() or runs.new_workflow_id()
    alias = conf.database_alias()
    forked = _forked_row(source, new_id, queue_name or registry.INTERNAL_QUEUE_NAME)
    forked.application_version = application_version
    forked.queue_partition_key = queue_partition_key
    try:
        _copy_run(source, forked, start_step, alias)
    except IntegrityError:
        raise WorkflowConflict(
            f"Cannot fork {workflow_id!r} into {new_id!r}: a run with that id exists."
        ) from None
    logger.info(
        "Workflow %s forked from %s at step %d",
        new_id,
        workflow_id,
        start_step,
        extra={"action": "workflow_forked", "workflow_id": new_id},
    )
    return WorkflowHandle(new_id)


async def fork_workflow_async(workflow_id: str, start_step: int, **options: Any) -> WorkflowHandle:
    """``fork_workflow`` for coroutines (the same keyword options)."""
    return await runtimes.current().run_sync(
        lambda: fork_workflow(workflow_id, start_step, **options)
    )


def _forked_row(source: WorkflowRun, new_id: str, queue_name: str) -> WorkflowRun:
    now = timezone.now()
    return WorkflowRun(
        workflow_id=new_id,
        name=source.name,
        class_name=source.class_name,
        config_name=source.config_name,
        status=RunStatus.ENQUEUED,
        inputs=source.inputs,
        queue_name=queue_name,
        priority=source.priority,
        schedule_name=source.schedule_name,
        parent_id=source.parent_id,
        forked_from=source.pk,
        created_at=now,
        updated_at=now,
    )


def _copy_run(source: WorkflowRun, forked: WorkflowRun, start_step: int, alias: str) -> None:
    new_id = forked.pk
    with exclusive_transaction(alias):
        forked.save(using=alias, force_insert=True)
        kept = StepOutput.objects.using(alias).filter(run_id=source.pk, step_number__lt=start_step)
        StepOutput.objects.using(alias).bulk_create(
            [
                StepOutput(
                    run_id=new_id,
                    step_number=step.step_number,
                    step_name=step.step_name,
                    output=step.output,
                    error=step.error,
                    child_workflow_id=step.child_workflow_id,
                    started_at=step.started_at,
                    completed_at=step.completed_at,
                )
                for step in kept
            ]
        )
        _copy_published(source.pk, new_id, start_step, alias)
        notify(alias, str(forked.queue_name))
        events.enqueued([forked], alias)


def _copy_published(source_id: str, new_id: str, start_step: int, alias: str) -> None:
    """A fork replays the steps before ``start_step`` without running them: copy what they
    published, the stream entries they wrote and the events they set (the value each key
    had after them)."""
    entries = StreamEntry.objects.using(alias).filter(run_id=source_id, step_number__lt=start_step)
    StreamEntry.objects.using(alias).bulk_create(
        [
            StreamEntry(
                run_id=new_id,
                key=entry.key,
                position=entry.position,
                value=entry.value,
                closed=entry.closed,
                step_number=entry.step_number,
                created_at=entry.created_at,
            )
            for entry in entries.order_by("key", "position")
        ]
    )
    WorkflowEvent.objects.using(alias).bulk_create(
        [
            WorkflowEvent(run_id=new_id, key=key, value=value, step_number=number)
            for key, (number, value) in run_events.events_before(
                source_id, start_step, alias
            ).items()
        ]
    )
