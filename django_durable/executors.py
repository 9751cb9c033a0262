"""Executors: processes that run workflows. Heartbeats, and recovery of the dead ones' runs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q

from django_durable import conf, registry
from django_durable.engine import events
from django_durable.models import Executor, RunStatus, WorkflowRun
from django_durable.queues import INTERNAL_QUEUE_NAME

logger = logging.getLogger(__name__)

DEFAULT_MAX_RECOVERY_ATTEMPTS = 100


def dead_executor_ids(now: datetime, timeout: float) -> list[str]:
    """Executors of ``PENDING`` runs whose heartbeat is older than ``timeout`` (or absent).

    A run whose executor never wrote a heartbeat counts once the run itself has not
    changed for ``timeout`` seconds.
    """
    using = conf.database_alias()
    cutoff = now - timedelta(seconds=timeout)
    owners: set[str] = {
        str(owner)
        for owner in WorkflowRun.objects.using(using)
        .pending()
        .filter(executor_id__isnull=False)
        .values_list("executor_id", flat=True)
        .distinct()
    }
    if not owners:
        return []
    beats = dict(
        Executor.objects.using(using)
        .filter(pk__in=owners)
        .values_list("executor_id", "last_heartbeat_at")
    )
    dead = {owner for owner, beat in beats.items() if beat < cutoff}
    silent = owners - set(beats)
    if silent:
        dead |= {
            str(owner)
            for owner in WorkflowRun.objects.using(using)
            .pending()
            .filter(executor_id__in=silent, updated_at__lt=cutoff)
            .values_list("executor_id", flat=True)
            .distinct()
        }
    return sorted(dead)


def requeue_runs_of(executor_ids: list[str], now: datetime) -> list[str]:
    """Put the ``PENDING`` runs of dead executors back on their queue, exactly once.

    Each run moves with a compare-and-set on its executor, so when several workers notice
    the same dead executor only one re-enqueues each run. A run already recovered
    ``max_recovery_attempts`` times becomes ``MAX_RECOVERY_ATTEMPTS_EXCEEDED`` instead.
    Returns the ids re-enqueued.
    """
    using = conf.database_alias()
    return _requeue(
        WorkflowRun.objects.using(using).pending().filter(executor_id__in=executor_ids), now
    )


def requeue_runs(workflow_ids: list[str], executor_id: str, now: datetime) -> list[str]:
    """``requeue_runs_of`` for the given ``PENDING`` runs of ``executor_id`` only: those an
    earlier process with the same executor id left when it stopped."""
    using = conf.database_alias()
    pending = WorkflowRun.objects.using(using).pending()
    return _requeue(pending.filter(executor_id=executor_id, pk__in=workflow_ids), now)


def _requeue(runs: Any, now: datetime) -> list[str]:
    using = conf.database_alias()
    requeued: list[str] = []
    candidates = runs.only("workflow_id", "name", "executor_id", "recovery_attempts", "queue_name")
    for run in candidates:
        info = registry.find_workflow(run.name)
        limit = info.max_recovery_attempts if info else DEFAULT_MAX_RECOVERY_ATTEMPTS
        if run.recovery_attempts >= limit:
            if run.give_up():
                events.finished(run, RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED, using)
                logger.error(
                    "Workflow %s was recovered %d times; marked %s",
                    run.pk,
                    run.recovery_attempts,
                    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
                    extra={"action": "recovery_exceeded", "workflow_id": run.pk},
                )
            continue
        if (
            WorkflowRun.objects.using(using)
            .filter(pk=run.pk, status=RunStatus.PENDING, executor_id=run.executor_id)
            .update(
                status=RunStatus.ENQUEUED,
                executor_id=None,
                queue_name=run.queue_name or INTERNAL_QUEUE_NAME,
                recovery_attempts=F("recovery_attempts") + 1,
                updated_at=now,
            )
        ):
            requeued.append(run.pk)
            logger.warning(
                "Re-enqueued workflow %s of stopped executor %s",
                run.pk,
                run.executor_id,
                extra={"action": "run_recovered", "workflow_id": run.pk},
            )
    return requeued


def recover_dead(now: datetime, timeout: float) -> list[str]:
    """Find dead executors and re-enqueue their runs; forget long-dead idle executors."""
    dead = dead_executor_ids(now, timeout)
    requeued = requeue_runs_of(dead, now) if dead else []
    using = conf.database_alias()
    Executor.objects.using(using).dead(now, timeout * 10).exclude(
        Q(pk__in=WorkflowRun.objects.using(using).pending().values("executor_id"))
    ).delete()
    return requeued
