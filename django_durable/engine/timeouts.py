"""Workflow timeouts: deadlines given by ``SetWorkflowTimeout``, inherited by children,
and the cancel of a run (and of its children) when its deadline passes.

A run started in the caller's process gets its deadline when its row is written; a
queued run when a worker first starts it (``timeout_seconds`` after that). The deadline
is stored on the run, so a recovered or resumed-from-park run keeps it. While a run
executes, its runtime's timer cancels it at the deadline; waits (``sleep``, ``recv``,
``get_event``) end there; a run found past its deadline when it is loaded is cancelled
instead of executed.
"""

from __future__ import annotations

import logging
import weakref
from datetime import datetime, timedelta
from typing import Any, cast

from django.utils import timezone

from django_durable import conf, context, error_records
from django_durable.context import RunContext
from django_durable.db import exclusive_transaction
from django_durable.engine import events
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import WorkflowCancelled
from django_durable.models import IN_FLIGHT, RunStatus, WorkflowRun

logger = logging.getLogger(__name__)


def for_new_run(
    parent: RunContext | None, *, queued: bool, now: datetime
) -> tuple[float | None, datetime | None]:
    """``(timeout_seconds, deadline)`` of a run about to be written: an explicit
    ``SetWorkflowTimeout`` wins (a queued run gets its deadline when it starts), else a
    child inherits its parent's deadline."""
    chosen = context.workflow_timeout()
    if chosen is not None:
        if chosen.seconds is None:
            return None, None
        deadline = None if queued else now + timedelta(seconds=chosen.seconds)
        return chosen.seconds, deadline
    if parent is not None and parent.deadline is not None:
        return None, parent.deadline
    return None, None


def timed_out_message(workflow_id: str, deadline: datetime) -> str:
    return f"Workflow {workflow_id!r} timed out: its deadline {deadline.isoformat()} passed."


def start(row: WorkflowRun) -> None:
    """Give a run with a ``timeout_seconds`` and no deadline yet its deadline, as it starts
    (compare-and-set: the first start wins; ``row.deadline`` is the stored one)."""
    if row.timeout_seconds is None or row.deadline is not None:
        return
    deadline = timezone.now() + timedelta(seconds=row.timeout_seconds)
    rows = WorkflowRun.objects.using(conf.database_alias()).filter(pk=row.pk)
    if rows.filter(deadline__isnull=True).update(deadline=deadline):
        row.deadline = deadline
    else:
        row.deadline = rows.values_list("deadline", flat=True).first()


def passed(deadline: datetime | None, now: datetime | None = None) -> bool:
    return deadline is not None and (now or timezone.now()) >= deadline


def expire(workflow_id: str, deadline: datetime) -> list[str]:
    """Cancel the run ``workflow_id`` (its deadline passed) and every in-flight run below it
    (children, their children...), each with an error saying why. The ids cancelled now;
    runs of them executing in this process stop at their next boundary."""
    using = conf.database_alias()
    cancelled: list[str] = []
    with exclusive_transaction(using):
        # Only while the run still has that deadline: a late timer must not cancel a run
        # that was resumed (and given a new deadline, or none) meanwhile.
        level = list(WorkflowRun.objects.using(using).filter(pk=workflow_id, deadline=deadline))
        reason = {workflow_id: timed_out_message(workflow_id, deadline)}
        seen = {workflow_id}
        while level:
            for row in level:
                if row.status in IN_FLIGHT and _cancel(row, reason[row.pk], using):
                    cancelled.append(row.pk)
            ids = [row.pk for row in level]
            level = [
                child
                for child in WorkflowRun.objects.using(using).filter(parent_id__in=ids)
                if child.pk not in seen
            ]
            for child in level:
                seen.add(child.pk)
                reason[child.pk] = (
                    f"Workflow {child.pk!r} was cancelled: workflow {workflow_id!r}, "
                    f"above it, timed out at {deadline.isoformat()}."
                )
    for cancelled_id in cancelled:
        runtimes.request_cancel(cancelled_id)
    if cancelled:
        logger.info(
            "Workflow %s timed out; cancelled %d run(s)",
            workflow_id,
            len(cancelled),
            extra={"action": "workflow_timed_out", "workflow_id": workflow_id},
        )
    return cancelled


def _cancel(row: WorkflowRun, message: str, using: str) -> bool:
    now = timezone.now()
    error = error_records.encode_exception(WorkflowCancelled(message))
    changed = (
        WorkflowRun.objects.using(using)
        .filter(pk=row.pk, status__in=IN_FLIGHT)
        .update(status=RunStatus.CANCELLED, error=error, completed_at=now, updated_at=now)
    ) == 1
    if changed:
        events.finished(row, RunStatus.CANCELLED, using)
    return changed


def expire_run(run: RunContext) -> WorkflowCancelled:
    """``run`` (executing here) passed its deadline: cancel it and its children; the
    exception that ends it."""
    if not run.cancel_event.is_set():
        expire(run.workflow_id, run.deadline)
        run.cancel_reason = timed_out_message(run.workflow_id, run.deadline)
        run.cancel_event.set()
    return WorkflowCancelled(run.cancel_reason or f"Workflow {run.workflow_id!r} was cancelled.")


def check(run: RunContext) -> None:
    """Raise ``WorkflowCancelled`` (after cancelling it) if ``run`` passed its deadline."""
    if passed(run.deadline):
        raise expire_run(run)
    run.check_cancelled()


def _at_deadline(run: RunContext) -> None:
    try:
        if run.finished or run.cancel_event.is_set():
            return
    except ReferenceError:  # the run ended here and is gone
        return
    expire_run(run)


def watch(run: RunContext) -> None:
    """Cancel ``run`` at its deadline if it is still executing here then (on the runtime's
    flusher thread). The timer holds the run weakly: a run that ended long before its
    deadline leaves only a small entry behind until then."""
    if run.deadline is None:
        return
    delay = max((run.deadline - timezone.now()).total_seconds(), 0.0)
    run.runtime.flush_later(cast(RunContext, weakref.proxy(run)), delay, _at_deadline)


def bounded(run: RunContext, until: Any) -> Any:
    """The earlier of ``until`` (an aware datetime) and the run's deadline."""
    if run.deadline is None:
        return until
    return min(until, run.deadline)
