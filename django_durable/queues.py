"""Queues: declare them, enqueue runs on them, and claim enqueued runs for a worker."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django_durable import conf, registry
from django_durable.db import advisory_xact_lock, exclusive_transaction, is_postgresql
from django_durable.engine import enqueue as enqueuing
from django_durable.engine.handles import WorkflowHandle
from django_durable.exceptions import ConfigurationError
from django_durable.models import WorkflowRun
from django_durable.models import sql as run_sql

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
        """Enqueue a run of workflow ``fn``; a worker of any process will execute it.

        Inside a workflow the run is a child (id ``<parent>-<step>``), recorded as a step.
        The same workflow id twice enqueues once.
        """
        info, receiver = registry.info_of(fn)
        workflow_id, _ = enqueuing.enqueue(info, receiver + args, kwargs, queue_name=self.name)
        return WorkflowHandle(workflow_id)

    async def enqueue_async(self, fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """``enqueue`` for coroutines (the row is written off the event loop)."""
        info, receiver = registry.info_of(fn)
        workflow_id, _ = await enqueuing.enqueue_async(
            info, receiver + args, kwargs, queue_name=self.name
        )
        return WorkflowHandle(workflow_id)


def claim(
    queue: Queue,
    executor_id: str,
    max_runs: int,
    now: datetime,
    workflow_names: Iterable[str],
) -> list[WorkflowRun]:
    """Move up to ``max_runs`` enqueued runs of ``queue`` to ``PENDING`` on ``executor_id``,
    starting them; the claimed rows. One short transaction (one statement on PostgreSQL
    for a queue without global limits). It respects the
    queue's global and per-worker concurrency and its rate limit, takes lower priority
    numbers first and FIFO within a priority, and only takes runs of ``workflow_names``
    (the workflows this process can execute). A run with a ``run_after`` later than
    ``now`` is left for a later claim; once due it counts as enqueued at its ``run_after``.
    """
    names = list(workflow_names)
    if max_runs <= 0 or not names:
        return []
    using = conf.database_alias()
    unlimited = not queue.serialised and queue.worker_concurrency is None
    if unlimited and is_postgresql(using):  # one statement, in autocommit
        taken = run_sql.claim_runs(using, queue.name, names, now, max_runs, executor_id)
        _log_claimed(queue, taken)
        return taken
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
        taken = run_sql.claim_runs(using, queue.name, names, now, free, executor_id)
    _log_claimed(queue, taken)
    return taken


def _log_claimed(queue: Queue, taken: list[WorkflowRun]) -> None:
    for run in taken:
        logger.debug(
            "Claimed workflow %s from %s",
            run.pk,
            queue.name,
            extra={"action": "run_claimed", "workflow_id": run.pk, "queue": queue.name},
        )


INTERNAL_QUEUE = Queue(INTERNAL_QUEUE_NAME)
"""The queue that carries recovered, resumed and scheduled runs."""
