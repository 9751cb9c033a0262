"""Send django_durable's signals once the transaction that caused them commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from django_durable import signals
from django_durable.models import WorkflowRun, WorkflowSchedule


def send_on_commit(signal: Signal, sender: Any, using: str, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction on ``using`` commits (at once outside
    one); nothing is queued when no receiver is connected."""
    if signal.has_listeners(sender):
        transaction.on_commit(partial(signals.send_robust, signal, sender, **kwargs), using=using)


def enqueued(runs: Iterable[WorkflowRun], using: str) -> None:
    if signals.workflow_enqueued.has_listeners(WorkflowRun):
        for run in runs:
            send_on_commit(
                signals.workflow_enqueued,
                WorkflowRun,
                using,
                workflow_id=run.pk,
                workflow_name=run.name,
                queue_name=run.queue_name,
            )


def started(run: WorkflowRun, executor_id: str, using: str) -> None:
    send_on_commit(
        signals.workflow_started,
        WorkflowRun,
        using,
        workflow_id=run.pk,
        workflow_name=run.name,
        executor_id=executor_id,
        queue_name=run.queue_name,
    )


def finished(run: WorkflowRun, status: str, using: str) -> None:
    send_on_commit(
        signals.workflow_finished,
        WorkflowRun,
        using,
        workflow_id=run.pk,
        workflow_name=run.name,
        status=status,
        queue_name=run.queue_name,
    )


def step_completed(
    workflow_id: str,
    workflow_name: str,
    number: int,
    name: str,
    *,
    failed: bool,
    using: str,
    duration: float | None = None,
) -> None:
    send_on_commit(
        signals.step_completed,
        WorkflowRun,
        using,
        workflow_id=workflow_id,
        workflow_name=workflow_name,
        step_number=number,
        step_name=name,
        failed=failed,
        duration=duration,
    )


def schedule_fired(
    schedule_name: str,
    slots: list[datetime],
    workflow_ids: list[str],
    using: str,
    *,
    workflow_name: str | None = None,
) -> None:
    send_on_commit(
        signals.schedule_fired,
        WorkflowSchedule,
        using,
        schedule_name=schedule_name,
        slots=slots,
        workflow_ids=workflow_ids,
        workflow_name=workflow_name,
    )


def schedule_missed(schedule_name: str, workflow_name: str, since: datetime | None) -> None:
    """Due slots of a schedule were left out (sent at once: nothing was written)."""
    if signals.schedule_missed.has_listeners(WorkflowSchedule):
        signals.send_robust(
            signals.schedule_missed,
            WorkflowSchedule,
            schedule_name=schedule_name,
            workflow_name=workflow_name,
            since=since,
        )


def schedule_skipped(schedule_name: str, workflow_name: str, reason: str) -> None:
    """A due schedule could not fire in this process (sent at once: nothing was written)."""
    if signals.schedule_skipped.has_listeners(WorkflowSchedule):
        signals.send_robust(
            signals.schedule_skipped,
            WorkflowSchedule,
            schedule_name=schedule_name,
            workflow_name=workflow_name,
            reason=reason,
        )
