"""Parked runs: a wait that costs no thread.

A run that a worker executes and that would wait (``sleep``, ``recv``, ``get_event``)
longer than ``DURABLE["PARK_THRESHOLD"]`` seconds gives its worker slot back: in one
transaction, fenced like a checkpoint, its row goes back on its queue as ``ENQUEUED``,
its executor cleared, with ``run_after`` set to when it wakes up (the end of the wait, or
its deadline if that comes first) and ``waiting_for`` saying what it waits for. Any
worker claims it once due and resumes it by replaying its recorded steps; the wait's end
was recorded as a step, so it waits only what is left. A ``send`` to it (or a
``set_event`` it waits for) moves ``run_after`` to now and wakes idle workers
(``NOTIFY`` on PostgreSQL; on SQLite they look every ``POLL_INTERVAL``).

While parked a run does not count toward its queue's ``concurrency`` or
``worker_concurrency`` (nothing executes it); when it wakes it is claimed again within
those limits, in its queue's order (by priority, then by the time it became due), and
its start counts toward the queue's rate limit.

Only runs executed by a worker park: a direct call (or a run started with
``start_workflow``) waits in its caller's process, which is waiting for it anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from django_durable import conf
from django_durable.context import RunContext
from django_durable.db import advisory_xact_lock, exclusive_transaction
from django_durable.engine import checkpoints, timeouts
from django_durable.models import RunStatus, WaitingFor, WorkflowRun

logger = logging.getLogger(__name__)


class Parked(BaseException):
    """Unwinds the body of a run that parked; the worker that executed it lets it go.

    A ``BaseException``, so ``except Exception`` in workflow code does not swallow it.
    """


@contextmanager
def waiting(run: RunContext) -> Iterator[None]:
    """Count a wait of ``run`` in progress (only a run's lone wait parks it)."""
    with run.lock:
        run.waits += 1
    try:
        yield
    finally:
        with run.lock:
            run.waits -= 1


def may_park(run: RunContext, seconds: float) -> bool:
    """Whether a wait of ``seconds`` more should park ``run`` now: a worker executes it,
    the wait is longer than the threshold, and nothing else of the run is in progress."""
    threshold = conf.park_threshold()
    if not run.parkable or threshold is None or seconds <= threshold:
        return False
    with run.lock:
        return run.in_flight == 0 and run.waits <= 1


def in_place(run: RunContext, seconds: float) -> float:
    """How long a wait of ``seconds`` that may end early (a message, an event) waits in
    place before it parks: the threshold for a run that can park, else all of it."""
    threshold = conf.park_threshold()
    if not run.parkable or threshold is None:
        return seconds
    return min(seconds, threshold)


def park(
    run: RunContext,
    wake_at: datetime,
    waiting_for: str,
    *,
    key: str | None = None,
    target: str | None = None,
    still_waiting: Callable[[], bool] | None = None,
    lock: str | None = None,
) -> bool:
    """Park ``run`` until ``wake_at`` (or its deadline, if earlier). ``True`` once parked:
    the caller raises ``Parked``. ``False`` (nothing written) when ``still_waiting()``,
    asked after the run's row is locked (and under the advisory ``lock``, if any), says
    what the run waits for has come meanwhile: no wake-up can slip between the two."""
    checkpoints.flush(run)
    using = conf.database_alias()
    wake_at = timeouts.bounded(run, wake_at)
    with checkpoints.interruptible("parking a run"), exclusive_transaction(using):
        if lock is not None:
            advisory_xact_lock(using, lock)
        parked = (
            WorkflowRun.objects.using(using)
            .filter(pk=run.workflow_id, status=RunStatus.PENDING, executor_id=run.executor_id)
            .update(
                status=RunStatus.ENQUEUED,
                executor_id=None,
                run_after=wake_at,
                waiting_for=waiting_for,
                wait_key=key,
                wait_workflow_id=target,
                updated_at=timezone.now(),
            )
        ) == 1
        if parked and still_waiting is not None and not still_waiting():
            transaction.set_rollback(True, using=using)
            return False
    if not parked:
        raise checkpoints.lost(run)
    logger.info(
        "Workflow %s parked until %s, waiting for %s",
        run.workflow_id,
        wake_at.isoformat(),
        WaitingFor(waiting_for).label,
        extra={"action": "workflow_parked", "workflow_id": run.workflow_id},
    )
    return True


def resumed(row: WorkflowRun) -> None:
    """A claimed run that was parked (or debounced) starts again: clear what it waited
    for. A debounced run also lets go of its debounce key, so the next call of its
    debouncer starts a new run instead of changing this one."""
    if row.waiting_for is None:
        return
    fields: dict[str, object] = {"waiting_for": None, "wait_key": None, "wait_workflow_id": None}
    if row.waiting_for == WaitingFor.DEBOUNCE:
        fields["deduplication_id"] = None
    WorkflowRun.objects.using(conf.database_alias()).filter(
        pk=row.pk, status=RunStatus.PENDING, executor_id=row.executor_id
    ).update(**fields)
