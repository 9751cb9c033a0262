"""``Debouncer``: calls with the same key within a period collapse into one run, started
that period after the last call, with the last call's arguments.

The run waits on its queue as an ``ENQUEUED`` row whose ``run_after`` is the end of the
period and whose deduplication id is the debounce key (``waiting_for`` says it is
debounced). A call while it waits moves its ``run_after`` and replaces its inputs, in
one transaction; a call when there is none enqueues it. Once a worker starts it, the run
lets go of the key, so the next call starts a new run.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

from django.utils import timezone

from django_durable import conf, context, registry
from django_durable.db import exclusive_transaction
from django_durable.engine import enqueue, runs, steps, timeouts
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.engine.recorded import recorded
from django_durable.exceptions import InvalidStateError, QueueDeduplicatedError
from django_durable.models import IN_FLIGHT, RunStatus, WaitingFor, WorkflowRun

logger = logging.getLogger(__name__)

DEBOUNCE_STEP = "durable.debounce"
ATTEMPTS = 10
"""Races with a concurrent first call or a start tried before giving up."""


class Debouncer:
    """``Debouncer(workflow, debounce_seconds, *, queue=None)``; then
    ``debouncer.enqueue(key, *args, **kwargs)`` returns the handle of the run that will
    execute the calls of ``key``: ``debounce_seconds`` after the last of them, with its
    arguments. ``queue``: a ``Queue`` or a queue name (default: the internal queue).
    Inside a workflow each call is recorded as a step."""

    def __init__(self, workflow: Any, debounce_seconds: float, *, queue: Any = None) -> None:
        self.info, self.receiver = registry.info_of(workflow)
        if (
            isinstance(debounce_seconds, bool)
            or not isinstance(debounce_seconds, (int, float))
            or not math.isfinite(debounce_seconds)
            or debounce_seconds <= 0
        ):
            raise ValueError(
                f"debounce_seconds must be a number of seconds > 0, got {debounce_seconds!r}."
            )
        self.debounce_seconds = float(debounce_seconds)
        name = getattr(queue, "name", queue)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"queue must be a Queue, a queue name or None, got {queue!r}.")
        self.queue_name: str = name or registry.INTERNAL_QUEUE_NAME

    def __repr__(self) -> str:
        return f"<Debouncer {self.info.name!r} {self.debounce_seconds}s on {self.queue_name!r}>"

    def _job(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Check everything (nothing is written if something is wrong); the job that
        debounces and returns the run's id."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"A debounce key must be a non-empty string, got {key!r}.")
        dedup = f"debounce:{self.info.name}:{key}"
        if len(dedup) > 255:
            raise ValueError(
                f"Debounce key {key[:40]!r}... is too long: with the workflow's name it must "
                f"fit in 255 characters."
            )
        options = context.enqueue_options()
        if options is not None and (
            options.deduplication_id is not None or options.delay_seconds is not None
        ):
            raise InvalidStateError(
                "A debouncer sets the deduplication id and the delay of its runs itself; "
                "call it outside SetEnqueueOptions(deduplication_id=..., delay_seconds=...)."
            )
        registry.get_queue(self.queue_name)  # declared (RegistrationError otherwise)
        inv = runs.resolve(self.info, self.receiver + args, kwargs)
        parent = context.current()
        row = runs.new_run(
            inv,
            context.take_workflow_id() or runs.new_workflow_id(),
            executor_id=runtimes.current().executor_id,
            status=RunStatus.ENQUEUED,
            parent_id=parent.workflow_id if parent is not None else None,
            queue_name=self.queue_name,
            priority=(options.priority if options else None) or 0,
            deduplication_id=dedup,
            timeout=timeouts.for_new_run(parent, queued=True, now=timezone.now()),
        )
        row.waiting_for = WaitingFor.DEBOUNCE
        return lambda: self._debounce(row, key)

    def _debounce(self, row: WorkflowRun, key: str) -> str:
        using = conf.database_alias()
        for _ in range(ATTEMPTS):
            now = timezone.now()
            run_after = now + timedelta(seconds=self.debounce_seconds)
            with exclusive_transaction(using):
                holders = WorkflowRun.objects.using(using).filter(
                    queue_name=row.queue_name,
                    deduplication_id=row.deduplication_id,
                    status__in=IN_FLIGHT,
                )
                waiting = holders.filter(
                    status=RunStatus.ENQUEUED,
                    waiting_for=WaitingFor.DEBOUNCE,
                    name=row.name,
                    class_name=row.class_name,
                    config_name=row.config_name,
                )
                pk = waiting.select_for_update().values_list("pk", flat=True).first()
                if pk is not None:
                    waiting.filter(pk=pk).update(
                        run_after=run_after,
                        inputs=row.inputs,
                        priority=row.priority,
                        updated_at=now,
                    )
                    logger.debug(
                        "Debounced %s (key %r) into run %s, now due at %s",
                        row.name,
                        key,
                        pk,
                        run_after.isoformat(),
                        extra={"action": "run_debounced", "workflow_id": pk},
                    )
                    return str(pk)
                # A debounced run that has started is committed to run: it lets go of the
                # key (it does so as it starts; this covers a claim not yet executed).
                holders.filter(status=RunStatus.PENDING, waiting_for=WaitingFor.DEBOUNCE).update(
                    deduplication_id=None
                )
                other = holders.exclude(waiting_for=WaitingFor.DEBOUNCE).values_list(
                    "pk", flat=True
                )
                blocker = other.first()
            if blocker is not None:
                raise QueueDeduplicatedError(
                    f"Queue {row.queue_name!r} already has an active run ({blocker!r}) with "
                    f"the deduplication id {row.deduplication_id!r} of this debouncer."
                )
            row.run_after = run_after
            row.created_at = row.updated_at = now
            try:
                enqueue.insert_enqueued(row)
            except QueueDeduplicatedError:
                continue  # a concurrent first call enqueued it: debounce into that one
            return str(row.pk)
        raise QueueDeduplicatedError(
            f"Could not debounce {row.name!r} (key {key!r}) on queue {row.queue_name!r}: "
            f"its debounce key kept changing hands."
        )

    def enqueue(self, key: str, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Debounce a call of the workflow under ``key``; the handle of the run that will
        execute it (a run already waiting for ``key``, or a new one)."""
        job = self._job(key, args, kwargs)
        return WorkflowHandle(recorded(DEBOUNCE_STEP, job))

    async def enqueue_async(self, key: str, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """``enqueue`` for coroutines (the rows are written off the event loop)."""
        runtime = runtimes.current()
        run = steps.durable_run()
        job = self._job(key, args, kwargs)
        if run is None:
            return WorkflowHandle(await runtime.run_sync(job))
        number = run.next_number()

        async def body() -> Any:
            return await runtime.run_sync(job)

        return WorkflowHandle(await steps.aexecute(run, number, DEBOUNCE_STEP, body))
