"""Streams: a run appends values under a key (``write_stream``) and ends the stream
(``close_stream``); anyone reads them in order as they are written (``read_stream``).

From a workflow's body each write is a step whose row commits with its checkpoint, so a
replay never writes a value twice. Inside a step a write is part of the step (written
again if the step runs again). A reader ends at the stream's end, or once the run has
finished and every value written has been read; an unknown run's stream is empty.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from django.utils import timezone

from django_durable import conf, context, serialization
from django_durable.db import advisory_xact_lock, exclusive_transaction
from django_durable.engine import awaiting, steps, transactions, wakeups
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import InvalidStateError
from django_durable.models import FINISHED, StreamEntry, WorkflowRun

logger = logging.getLogger(__name__)

WRITE_STEP = "durable.write_stream"
CLOSE_STEP = "durable.close_stream"
READ_STEP = "durable.read_stream"
BATCH = 100
"""Entries a reader fetches per query."""


def append(workflow_id: str, key: str, payload: str | None) -> None:
    """Append a value (``payload``) or, with ``None``, the end to a stream (in its own
    transaction, or the caller's) and wake its readers. Writing to a closed stream raises
    ``InvalidStateError``; closing it again does nothing."""
    using = conf.database_alias()
    with exclusive_transaction(using):
        advisory_xact_lock(using, f"stream:{workflow_id}:{key}")
        last = (
            StreamEntry.objects.using(using)
            .filter(run_id=workflow_id, key=key)
            .order_by("-position")
            .values_list("position", "closed")
            .first()
        )
        if last is not None and last[1]:
            if payload is None:
                return
            raise InvalidStateError(f"Stream {key!r} of workflow {workflow_id!r} is closed.")
        StreamEntry.objects.using(using).create(
            run_id=workflow_id,
            key=key,
            position=0 if last is None else last[0] + 1,
            value=payload,
            closed=payload is None,
            step_number=context.step_id(),
            created_at=timezone.now(),
        )
        wakeups.announce(using, wakeups.stream_key(workflow_id, key))


def _job(api: str, step_name: str, key: Any, payload: str | None) -> Callable[[], None]:
    name = awaiting.check_name(key, "key")
    assert name is not None  # noqa: S101
    run, workflow_id = awaiting.owner(api)
    if run is None:
        return lambda: append(workflow_id, name, payload)
    number = run.next_number()
    return lambda: transactions.execute(
        run, number, step_name, lambda: append(workflow_id, name, payload)
    )


def _call(job: Callable[[], None]) -> None:
    run = steps.durable_run()
    if run is not None and steps.in_event_loop():
        steps.off_loop(run, job)
        return
    job()


def write_stream(key: str, value: Any) -> None:
    """Append ``value`` to the calling workflow's stream ``key`` (written once)."""
    _call(_job("write_stream", WRITE_STEP, key, serialization.dumps(value)))


def close_stream(key: str) -> None:
    """End the calling workflow's stream ``key``: its readers stop after the last value."""
    _call(_job("close_stream", CLOSE_STEP, key, None))


async def write_stream_async(key: str, value: Any) -> None:
    """``write_stream`` for coroutines."""
    job = _job("write_stream", WRITE_STEP, key, serialization.dumps(value))
    await runtimes.current().run_sync(job)


async def close_stream_async(key: str) -> None:
    """``close_stream`` for coroutines."""
    job = _job("close_stream", CLOSE_STEP, key, None)
    await runtimes.current().run_sync(job)


# ---------------------------------------------------------------- reading

_END = {"end": True}


class _Reader:
    """One reader's position in a stream, and what it fetched but has not yielded yet."""

    def __init__(self, workflow_id: str, key: str) -> None:
        self.workflow_id = awaiting.check_workflow_id(workflow_id)
        name = awaiting.check_name(key, "key")
        assert name is not None  # noqa: S101
        self.key = name
        self.position = 0
        self.pending: list[dict[str, Any]] = []
        self.wake_key = wakeups.stream_key(self.workflow_id, self.key)

    def fetch(self) -> bool | None:
        """Read what was written past the position into ``pending``; ``True`` when there
        is something to yield (a value or the end), ``None`` to keep waiting."""
        using = conf.database_alias()
        rows = list(
            StreamEntry.objects.using(using)
            .filter(run_id=self.workflow_id, key=self.key, position__gte=self.position)
            .order_by("position")
            .values_list("position", "value", "closed")[:BATCH]
        )
        if not rows:
            status = (
                WorkflowRun.objects.using(using)
                .filter(pk=self.workflow_id)
                .values_list("status", flat=True)
                .first()
            )
            if status is not None and status not in FINISHED:
                return None
            # Finished (or unknown): one more look, for values written just before the end.
            rows = list(
                StreamEntry.objects.using(using)
                .filter(run_id=self.workflow_id, key=self.key, position__gte=self.position)
                .order_by("position")
                .values_list("position", "value", "closed")[:BATCH]
            )
            if not rows:
                self.pending.append(_END)
                return True
        for position, value, closed in rows:
            if closed:
                self.pending.append(_END)
                break
            self.pending.append({"value": serialization.loads(value), "position": position})
            self.position = position + 1
        return True

    def next_item(self) -> dict[str, Any]:
        """The next value (``{"value": v}``) or the end (``{"end": True}``), waiting."""
        while not self.pending:
            wakeups.wait_for(runtimes.current().wakeups, self.wake_key, self.fetch, None)
        return self.pending.pop(0)

    async def anext_item(self) -> dict[str, Any]:
        runtime = runtimes.current()

        async def check() -> bool | None:
            return await runtime.run_sync(self.fetch)

        while not self.pending:
            await wakeups.await_for(runtime.wakeups, self.wake_key, check, None)
        return self.pending.pop(0)

    def replayed(self, item: dict[str, Any]) -> None:
        """A value read by an earlier execution of the workflow: read on after it."""
        if not self.pending and "position" in item:
            self.position = max(self.position, int(item["position"]) + 1)


def read_stream(workflow_id: str, key: str) -> Iterator[Any]:
    """The values of ``workflow_id``'s stream ``key``, in order, as they are written; the
    iterator ends when the stream is closed, or when the run has finished and every value
    has been read. Inside a workflow each value read is recorded as a step."""
    reader = _Reader(workflow_id, key)
    while True:
        run = steps.durable_run()
        if run is None:
            item = reader.next_item()
        else:
            awaiting.refuse_on_loop("read_stream")
            item = steps.execute(run, run.next_number(), READ_STEP, reader.next_item)
            reader.replayed(item)
        if "end" in item:
            return
        yield item["value"]


async def read_stream_async(workflow_id: str, key: str) -> AsyncIterator[Any]:
    """``read_stream`` for coroutines: ``async for value in read_stream_async(...)``."""
    reader = _Reader(workflow_id, key)
    while True:
        run = steps.durable_run()
        if run is None:
            item = await reader.anext_item()
        else:
            item = await steps.aexecute(run, run.next_number(), READ_STEP, reader.anext_item)
            reader.replayed(item)
        if "end" in item:
            return
        yield item["value"]
