"""Recovery: the ``PENDING`` runs of executors that died (or restarted) are run again from
their checkpoints, each exactly once whichever processes try at the same time.

One rule for every path: a run that exceeded its workflow's ``max_recovery_attempts`` is
given up; one that cannot run anywhere ends ``ERROR``; a queued run goes back on its
queue (so its queue's limits apply); a direct call is taken over and executed here by
``recover_pending_workflows``, or goes on the internal queue when a worker recovers it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q

from django_durable import conf, registry
from django_durable.engine import events, execution, runs
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.engine.runtime import Runtime
from django_durable.models import Executor, RunStatus, WorkflowRun

logger = logging.getLogger(__name__)

DEFAULT_MAX_RECOVERY_ATTEMPTS = 100


def _limit(row: WorkflowRun) -> int | None:
    info = registry.find_workflow(row.name)
    return info.max_recovery_attempts if info is not None else DEFAULT_MAX_RECOVERY_ATTEMPTS


def _settled(row: WorkflowRun) -> bool:
    """Runs that recovery ends instead of running: an empty id (``ERROR``), or too many
    recoveries (``MAX_RECOVERY_ATTEMPTS_EXCEEDED``). ``True`` if ``row`` was one."""
    if not row.pk:
        execution.prepare(row, runtimes.current())  # marks it ERROR, with the reason
        return True
    limit = _limit(row)
    if limit is None or row.recovery_attempts < limit:
        return False
    if row.give_up():
        events.finished(row, RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED, conf.database_alias())
        logger.error(
            "Workflow %s was recovered %d times; marked %s",
            row.pk,
            row.recovery_attempts,
            RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
            extra={"action": "recovery_exceeded", "workflow_id": row.pk},
        )
    return True


def _of_this_version(row: WorkflowRun) -> bool:
    """Whether this process may execute ``row``: it is unversioned, or of this process's
    application version (or this process has none)."""
    version = conf.application_version()
    return version is None or row.application_version in (None, version)


def requeue(row: WorkflowRun) -> bool:
    """Put a ``PENDING`` run whose executor is gone back on its queue (a direct call on
    the internal queue), exactly once; ``False`` if it was settled or moved meanwhile."""
    if _settled(row):
        return False
    queue_name = row.queue_name or registry.INTERNAL_QUEUE_NAME
    if not row.requeue_orphan(from_executor=row.executor_id, queue_name=queue_name):
        return False
    logger.warning(
        "Re-enqueued workflow %s of stopped executor on %s",
        row.pk,
        queue_name,
        extra={"action": "run_recovered", "workflow_id": row.pk},
    )
    return True


def _pending_of(executor_ids: list[str]) -> Iterable[WorkflowRun]:
    return (
        WorkflowRun.objects.using(conf.database_alias())
        .pending()
        .of_executors(executor_ids)
        .order_by("created_at")
    )


def recover_pending_workflows(
    executor_ids: Iterable[str] | None = None,
) -> list[WorkflowHandle]:
    """Recover the ``PENDING`` runs of the given executors (default: this process's).

    A handle for each: runs executing in this process right now are left to finish (their
    handle resolves without running them twice); queued runs go back on their queue, so
    their queue's limits apply; direct calls are taken over and finished here, replaying
    their recorded steps. Runs whose workflow this process does not know are logged and
    left alone, and so are direct calls of another application version; runs no process
    could run as stored (undecodable inputs, a configured instance that does not exist)
    end ``ERROR`` with the reason. Several processes may
    call this at once: each run is recovered by one.
    """
    runtime = runtimes.current()
    ids = list(executor_ids) if executor_ids is not None else [runtime.executor_id]
    handles: list[WorkflowHandle] = []
    for row in _pending_of(ids):
        if (
            row.pk
            and runtime.active(row.pk) is not None
            and row.executor_id == (runtime.executor_id)
        ):
            handles.append(WorkflowHandle(row.pk))  # executing here right now
            continue
        if registry.find_workflow(row.name) is None:
            logger.error(
                "Cannot recover workflow %s here: workflow %r is not registered in this process",
                row.pk,
                row.name,
                extra={"action": "recovery_skipped", "workflow_id": row.pk},
            )
            continue
        if _settled(row):
            continue
        try:
            runs.invocation_of(row)
        except runs.Unrunnable as exc:
            execution.fail_unrunnable(row, str(exc))  # no process could run it as stored
            continue
        if row.queue_name:
            if requeue(row):
                handles.append(WorkflowHandle(row.pk))
            continue
        if not _of_this_version(row):  # left to a process of its version
            logger.info(
                "Not recovering workflow %s here: it runs under application version %s",
                row.pk,
                row.application_version,
                extra={"action": "recovery_skipped", "workflow_id": row.pk},
            )
            continue
        if take_over(row, runtime):
            handles.append(WorkflowHandle(row.pk))
    return handles


def take_over(row: WorkflowRun, runtime: Runtime) -> bool:
    """Claim a direct call of another executor for ``runtime`` and execute it in the
    background; ``False`` when another process took it first."""
    if not row.take_over(runtime.executor_id, from_executor=row.executor_id):
        return False
    logger.info(
        "Recovering workflow %s (%s), attempt %d",
        row.pk,
        row.name,
        row.recovery_attempts,
        extra={"action": "workflow_recovered", "workflow_id": row.pk},
    )
    holder = runtime.try_hold(row.pk)
    if holder is not None:
        execution.in_background(row.pk, runtime, holder)
    return True


# ---------------------------------------------------------------- dead executors


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


def recover_dead(now: datetime, timeout: float) -> list[str]:
    """Re-enqueue the runs of dead executors (each once); forget long-dead idle executors.
    Returns the ids re-enqueued."""
    dead = dead_executor_ids(now, timeout)
    requeued = [row.pk for row in _pending_of(dead) if requeue(row)] if dead else []
    using = conf.database_alias()
    Executor.objects.using(using).dead(now, timeout * 10).exclude(
        Q(pk__in=WorkflowRun.objects.using(using).pending().values("executor_id"))
    ).delete()
    return requeued


def requeue_leftovers(runtime: Runtime) -> list[str]:
    """Re-enqueue the ``PENDING`` runs an earlier process with ``runtime``'s executor id
    left (its heartbeat is ours now, so nobody else would see them as orphans). Runs this
    process is executing are left alone."""
    return [
        row.pk
        for row in _pending_of([runtime.executor_id])
        # Checked after reading: a run started here is held before its row is visible.
        if not runtimes.executing_here(row.pk) and requeue(row)
    ]
