"""Claiming: move enqueued runs of a queue to ``PENDING`` on one executor, within the
queue's limits, in one short transaction (per partition on a partitioned queue).

A worker with an application version (``DURABLE["APPLICATION_VERSION"]``) takes only runs
of that version and unversioned ones.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from django_durable import conf
from django_durable.db import advisory_xact_lock, exclusive_transaction, is_postgresql
from django_durable.models import WorkflowRun, WorkflowRunQuerySet, claim_sql

logger = logging.getLogger(__name__)

MAX_PARTITIONS_PER_CLAIM = 1000
"""Most partitions of one queue looked at by one claim (taken in random order)."""


def claim(
    queue: Any,
    executor_id: str,
    max_runs: int,
    now: datetime,
    workflow_names: Iterable[str],
) -> list[WorkflowRun]:
    """Move up to ``max_runs`` enqueued runs of ``queue`` to ``PENDING`` on ``executor_id``,
    starting them; the claimed rows. One short transaction (one statement on PostgreSQL
    for a queue without limits). It respects the queue's global and per-worker
    concurrency and its rate limit, takes lower priority numbers first and FIFO within a
    priority, and only takes runs of ``workflow_names`` (the workflows this process can
    execute). A run with a ``run_after`` later than ``now`` is left for a later claim;
    once due it counts as enqueued at its ``run_after``.

    On a partitioned queue the limits apply to each partition: the partitions with due
    runs are visited in random order, each in its own transaction, so one busy partition
    cannot starve the others.
    """
    names = list(workflow_names)
    if max_runs <= 0 or not names:
        return []
    using = conf.database_alias()
    version = conf.application_version()
    if queue.partition_queue:
        taken = _claim_partitions(queue, executor_id, max_runs, now, names, using, version)
    else:
        taken = _claim(queue, executor_id, max_runs, now, names, using, version, None)
    for run in taken:
        logger.debug(
            "Claimed workflow %s from %s",
            run.pk,
            queue.name,
            extra={"action": "run_claimed", "workflow_id": run.pk, "queue": queue.name},
        )
    return taken


def _claim(
    queue: Any,
    executor_id: str,
    max_runs: int,
    now: datetime,
    names: list[str],
    using: str,
    version: str | None,
    partition: tuple[str | None] | None,
) -> list[WorkflowRun]:
    unlimited = not queue.serialised and queue.worker_concurrency is None
    if unlimited and is_postgresql(using):  # one statement, in autocommit
        return claim_sql.claim_runs(
            using,
            queue.name,
            names,
            now,
            max_runs,
            executor_id,
            application_version=version,
            partition=partition,
        )
    runs_qs = WorkflowRun.objects.using(using).filter(queue_name=queue.name)
    lock = f"queue:{queue.name}"
    if partition is not None:
        runs_qs = runs_qs.filter(queue_partition_key=partition[0])
        lock = f"queue:{queue.name}:{partition[0]}"
    with exclusive_transaction(using):
        if queue.serialised:
            advisory_xact_lock(using, lock)
        free = _free(queue, runs_qs, executor_id, max_runs, now)
        if free <= 0:
            return []
        # Deferred runs (``run_after``) wait until due; among the due runs of one priority
        # the order is by due time, as the partial queue index sorts them.
        return claim_sql.claim_runs(
            using,
            queue.name,
            names,
            now,
            free,
            executor_id,
            application_version=version,
            partition=partition,
        )


def _free(
    queue: Any, runs_qs: WorkflowRunQuerySet, executor_id: str, max_runs: int, now: datetime
) -> int:
    """How many runs the limits let this executor start now (inside the claim's lock)."""
    free = max_runs
    if queue.worker_concurrency is not None:
        mine = runs_qs.pending().filter(executor_id=executor_id).count()
        free = min(free, queue.worker_concurrency - mine)
    if queue.concurrency is not None and free > 0:
        free = min(free, queue.concurrency - runs_qs.pending().count())
    if queue.limiter is not None and free > 0:
        window_start = now - timedelta(seconds=queue.limiter.period)
        started = runs_qs.filter(started_at__gt=window_start).count()
        free = min(free, queue.limiter.limit - started)
    return free


def partitions(
    queue_name: str, now: datetime, names: list[str], version: str | None = None
) -> list[str | None]:
    """The partition keys of a queue with due enqueued runs of ``names`` (``None`` for runs
    enqueued without a key), at most ``MAX_PARTITIONS_PER_CLAIM``."""
    qs = (
        WorkflowRun.objects.using(conf.database_alias())
        .enqueued()
        .due(now)
        .filter(queue_name=queue_name, name__in=names)
    )
    if version is not None:
        qs = qs.filter(Q(application_version__isnull=True) | Q(application_version=version))
    keys = qs.order_by().values_list("queue_partition_key", flat=True).distinct()
    return list(keys[:MAX_PARTITIONS_PER_CLAIM])


def _claim_partitions(
    queue: Any,
    executor_id: str,
    max_runs: int,
    now: datetime,
    names: list[str],
    using: str,
    version: str | None,
) -> list[WorkflowRun]:
    keys = partitions(queue.name, now, names, version)
    random.shuffle(keys)  # every partition gets its turn, whatever its backlog
    share = max(1, -(-max_runs // max(len(keys), 1)))  # spread the free slots over them
    taken: list[WorkflowRun] = []
    for key in keys:
        free = min(share, max_runs - len(taken))
        if free <= 0:
            break
        taken += _claim(queue, executor_id, free, now, names, using, version, (key,))
    return taken
