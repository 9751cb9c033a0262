"""Queues: declare them, enqueue runs on them, and claim enqueued runs for a worker."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction

from django_durable import conf, context, registry
from django_durable.db import (
    advisory_xact_lock,
    claim_runs,
    exclusive_transaction,
    notify,
)
from django_durable.engine import calls, events, runs, steps
from django_durable.engine.handles import WorkflowHandle
from django_durable.exceptions import ConfigurationError, QueueDeduplicatedError, WorkflowConflict
from django_durable.models import RunStatus, WorkflowRun

logger = logging.getLogger(__name__)

INTERNAL_QUEUE_NAME = registry.INTERNAL_QUEUE_NAME


@dataclass(frozen=True, kw_only=True)
class Limiter:
    """At most ``limit`` runs of a queue start in any rolling window of ``period`` seconds."""

    limit: int
    """Runs allowed to start per window."""
    period: float
    """Length of the window in seconds."""


def _positive_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be a positive int or None, got {value!r}.")
    return value


def _limiter(value: Any, name: str) -> Limiter | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"limit", "period"}:
        raise ConfigurationError(
            f"Queue {name!r}: limiter must be a dict with exactly the keys 'limit' and "
            f"'period', got {value!r}."
        )
    limit, period = value["limit"], value["period"]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(
            f"Queue {name!r}: limiter limit must be an int >= 1, got {limit!r}."
        )
    if isinstance(period, bool) or not isinstance(period, (int, float)) or period <= 0:
        raise ConfigurationError(
            f"Queue {name!r}: limiter period must be a number of seconds > 0, got {period!r}."
        )
    return Limiter(limit=limit, period=float(period))


class Queue:
    """A named queue of runs, claimed by the workers of any number of processes.

    ``concurrency`` caps the runs of this queue executing at once across all processes,
    ``worker_concurrency`` caps them per process, and ``limiter`` (``{"limit": L,
    "period": seconds}``) caps how many start in any rolling window.
    """

    def __init__(
        self,
        name: str,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        limiter: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"A queue name must be a non-empty string, got {name!r}.")
        self.name = name
        self.concurrency = _positive_int(concurrency, f"Queue {name!r}: concurrency")
        self.worker_concurrency = _positive_int(
            worker_concurrency, f"Queue {name!r}: worker_concurrency"
        )
        if (
            self.concurrency is not None
            and self.worker_concurrency is not None
            and self.worker_concurrency > self.concurrency
        ):
            raise ConfigurationError(
                f"Queue {name!r}: worker_concurrency ({self.worker_concurrency}) cannot be "
                f"above concurrency ({self.concurrency})."
            )
        self.limiter = _limiter(limiter, name)
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        module = caller.f_globals.get("__name__", "?") if caller is not None else "?"
        registry.register_queue(name, str(module), self)

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    @property
    def serialised(self) -> bool:
        """Whether claimers of this queue must take turns (it has a global limit)."""
        return self.concurrency is not None or self.limiter is not None

    def enqueue(self, fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Enqueue a run of workflow ``fn``; a worker of any process will execute it."""
        return enqueue(self, fn, args, kwargs)

    async def enqueue_async(self, fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
        return await sync_to_async(enqueue)(self, fn, args, kwargs)


def enqueue(
    queue: Queue,
    fn: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    workflow_id: str | None = None,
    schedule_name: str | None = None,
) -> WorkflowHandle:
    """Write an ``ENQUEUED`` run (and wake idle workers on commit); return its handle.

    Inside a workflow the run is a child: id ``<parent>-<step>``, recorded as a step.
    The same workflow id twice enqueues once.
    """
    info, receiver = calls.workflow_info_of(fn)
    parent = context.current()
    if parent is not None and parent.current_step is not None:
        parent = None
    inv = runs.resolve(info, receiver + args, kwargs)
    number, recorded = calls.child_slot(parent, info.name)
    if recorded is not None:
        return WorkflowHandle(str(recorded.child_workflow_id))
    options = context.enqueue_options()
    run = runs.new_run(
        inv,
        workflow_id or calls.choose_workflow_id(parent, number),
        status=RunStatus.ENQUEUED,
        parent_id=parent.workflow_id if parent else None,
        queue_name=queue.name,
        schedule_name=schedule_name,
        priority=(options.priority or 0) if options else 0,
        deduplication_id=options.deduplication_id if options else None,
    )
    insert_enqueued(run)
    if parent is not None and number is not None:
        steps.record_child(parent, number, info.name, run.pk, started=True)
    return WorkflowHandle(run.pk)


def insert_enqueued(run: WorkflowRun) -> bool:
    """Insert an ``ENQUEUED`` row and notify workers in one transaction.

    ``False`` if a run with that id already exists (idempotent enqueue).
    """
    using = conf.database_alias()
    try:
        with transaction.atomic(using=using):
            run.save(force_insert=True, using=using)
            notify(using, str(run.queue_name))
            events.enqueued([run], using)
    except IntegrityError:
        existing = WorkflowRun.objects.using(using).filter(pk=run.pk).first()
        if existing is None:
            raise QueueDeduplicatedError(
                f"Queue {run.queue_name!r} already has an active run with deduplication id "
                f"{run.deduplication_id!r}."
            ) from None
        if existing.name != run.name:
            raise WorkflowConflict(
                f"Workflow id {run.pk!r} is already used by a run of {existing.name!r}; "
                f"it cannot enqueue {run.name!r}."
            ) from None
        return False
    logger.debug(
        "Enqueued workflow %s (%s) on %s",
        run.pk,
        run.name,
        run.queue_name,
        extra={"action": "run_enqueued", "workflow_id": run.pk, "queue": run.queue_name},
    )
    return True


def claim(
    queue: Queue,
    executor_id: str,
    max_runs: int,
    now: datetime,
    workflow_names: Iterable[str],
) -> list[tuple[str, str]]:
    """Move up to ``max_runs`` enqueued runs of ``queue`` to ``PENDING`` on ``executor_id``.

    Returns ``(workflow_id, workflow_name)`` pairs. One short transaction. It respects the
    queue's global and per-worker concurrency and its rate limit, takes lower priority
    numbers first and FIFO within a priority, and only takes runs of ``workflow_names``
    (the workflows this process can execute). A run with a ``run_after`` later than
    ``now`` is left for a later claim; once due it counts as enqueued at its ``run_after``.
    """
    names = list(workflow_names)
    if max_runs <= 0 or not names:
        return []
    using = conf.database_alias()
    runs_qs = WorkflowRun.objects.using(using).filter(queue_name=queue.name)
    with exclusive_transaction(using):
        if queue.serialised:
            advisory_xact_lock(using, f"queue:{queue.name}")
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
        if free <= 0:
            return []
        # Deferred runs (``run_after``) wait until due; among the due runs of one priority
        # the order is by due time, as the partial queue index sorts them.
        taken = claim_runs(using, queue.name, names, now, free, executor_id)
    for workflow_id, _ in taken:
        logger.debug(
            "Claimed workflow %s from %s",
            workflow_id,
            queue.name,
            extra={"action": "run_claimed", "workflow_id": workflow_id, "queue": queue.name},
        )
    return taken


INTERNAL_QUEUE = Queue(INTERNAL_QUEUE_NAME)
"""The queue that carries recovered, resumed and scheduled runs."""
