"""Turning schedule slots into runs: the fire rule and the one builder of slot runs.

A fire is the run row: its id is deterministic (``sched-<name>-<UTC ISO seconds>``) and it
is inserted in the same transaction that moves the schedule's ``next_fire_at`` on with a
compare-and-set, so any number of schedulers racing produce one run per slot. The
scheduler fires due schedules in batches (``schedules.batch``); ``fire()`` here fires one
schedule row with the same pieces.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections

from django_durable import conf, registry
from django_durable.cron import Cron
from django_durable.db import exclusive_transaction
from django_durable.engine import runs
from django_durable.exceptions import RegistrationError
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
from django_durable.models.due import DueSchedule, key_text, time_text
from django_durable.registry import FuncType, WorkflowInfo

logger = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)


def slot_run_id(schedule_name: str, slot: datetime) -> str:
    """The id of the run that fires ``slot``: the same on every host, in every timezone."""
    return f"sched-{schedule_name}-{slot.astimezone(UTC).isoformat(timespec='seconds')}"


def trigger_run_id(schedule_name: str, now: datetime) -> str:
    """The id of a manual trigger at ``now`` (never the id of a slot)."""
    return (
        f"sched-{schedule_name}-trigger-{now.astimezone(UTC).isoformat(timespec='microseconds')}"
    )


@dataclass(frozen=True, kw_only=True)
class FirePlan:
    """What one fire of a due schedule does."""

    slots: list[datetime]
    """Slots to enqueue, ascending (UTC)."""
    next_fire_at: datetime
    """The schedule's next slot after ``now``."""
    missed: bool
    """Whether due slots were left out (missed with backfill off, or beyond the cap)."""


def plan(
    cron: Cron,
    next_fire_at: datetime,
    now: datetime,
    *,
    automatic_backfill: bool,
    cap: int,
    grace: timedelta,
) -> FirePlan:
    """The slots a schedule due at ``next_fire_at`` enqueues at ``now``.

    A slot older than ``grace`` was missed (the scheduler was down or suspended): it is
    enqueued only with ``automatic_backfill``. At most ``cap`` slots are enqueued per fire,
    the newest ones, so the slot that is on time is never dropped. Either way the schedule
    moves on to its first slot after ``now``.
    """
    start = next_fire_at - _TICK
    missed = False
    if not automatic_backfill and next_fire_at < now - grace:
        start, missed = now - grace, True
    slots, cut = _newest_slots(cron, start, now, cap)
    return FirePlan(slots=slots, next_fire_at=cron.next_after(now), missed=missed or cut)


@functools.lru_cache(maxsize=4096)
def shared_plan(
    cron: Cron,
    next_fire_at: datetime,
    now: datetime,
    automatic_backfill: bool,
    cap: int,
    grace: timedelta,
) -> FirePlan:
    """``plan()``, computed once for all the schedules that share its arguments (a burst
    of thousands of schedules with one cron, due at one instant, is one computation per
    tick). The result is shared: do not modify it."""
    return plan(
        cron, next_fire_at, now, automatic_backfill=automatic_backfill, cap=cap, grace=grace
    )


def _newest_slots(
    cron: Cron, after: datetime, now: datetime, cap: int
) -> tuple[list[datetime], bool]:
    """The newest ``cap`` slots in ``(after, now]``, ascending, and whether older ones were
    left out. Looks back over a doubling window, so a long outage of a frequent schedule
    costs about ``2 * cap`` cron steps, not one per missed slot."""
    span = timedelta(minutes=1)
    while True:
        lower = max(after, now - span)
        window: deque[datetime] = deque(maxlen=cap + 1)
        slot = cron.next_after(lower)
        while slot <= now:
            window.append(slot)
            slot = cron.next_after(slot)
        if len(window) > cap:
            return list(window)[1:], True
        if lower == after:
            return list(window), False
        span *= 2


def workflow_named(
    schedule_name: str, workflow_name: str, workflow_class_name: str | None
) -> WorkflowInfo:
    """The registered workflow a schedule runs, or ``WorkflowNotRegistered``/a clear error."""
    info = registry.get_workflow(workflow_name)
    if info.class_name != (workflow_class_name or None):
        raise RegistrationError(
            f"Schedule {schedule_name!r} names workflow {workflow_name!r} of class "
            f"{workflow_class_name!r}, but it is registered for class {info.class_name!r}."
        )
    return info


def workflow_of(row: WorkflowSchedule) -> WorkflowInfo:
    """``workflow_named`` for a schedule row."""
    return workflow_named(row.schedule_name, row.workflow_name, row.workflow_class_name)


def slot_run(
    info: WorkflowInfo,
    *,
    cron: Cron,
    slot: datetime,
    context: Any,
    run_id: str,
    schedule_name: str,
    queue_name: str | None,
    run_after: datetime | None = None,
) -> WorkflowRun:
    """An unsaved ``ENQUEUED`` run of a schedule's workflow for ``slot``: the one place
    that builds the runs of schedules (fires, triggers, backfills).

    The workflow receives ``(scheduled_at, context)``: the slot as an aware datetime in
    the schedule's timezone, and the schedule's JSON context. ``run_after`` keeps a run
    from starting before that time.
    """
    receiver: tuple[object, ...] = (info.owner().cls,) if info.func_type is FuncType.CLASS else ()
    inv = runs.resolve(info, (*receiver, cron.local(slot), context), {})
    run = runs.new_run(
        inv,
        run_id,
        status=RunStatus.ENQUEUED,
        queue_name=queue_name or registry.INTERNAL_QUEUE_NAME,
        schedule_name=schedule_name,
    )
    run.run_after = run_after
    return run


def row_slot_run(
    row: WorkflowSchedule,
    info: WorkflowInfo,
    slot: datetime,
    run_id: str,
    *,
    run_after: datetime | None = None,
) -> WorkflowRun:
    """``slot_run`` for a schedule row (triggers and backfills)."""
    return slot_run(
        info,
        cron=row.definition().cron(),
        slot=slot,
        context=row.context,
        run_id=run_id,
        schedule_name=row.schedule_name,
        queue_name=row.queue_name,
        run_after=run_after,
    )


def due_schedule(row: WorkflowSchedule, using: str) -> DueSchedule:
    """A schedule row with a next fire time as the scheduler's batch reads it (its stored
    values, as loaded)."""
    assert row.next_fire_at is not None  # noqa: S101  (checked by the caller)
    connection = connections[using]
    return DueSchedule(
        key=key_text(connection, row.pk),
        version=time_text(connection, row.updated_at),
        schedule_name=row.schedule_name,
        workflow_name=row.workflow_name,
        workflow_class_name=row.workflow_class_name or None,
        schedule=row.schedule,
        cron_timezone=row.cron_timezone or None,
        context=None if row.context is None else json.dumps(row.context),
        next_fire_at=row.next_fire_at,
        expected=time_text(connection, row.next_fire_at),
        automatic_backfill=row.automatic_backfill,
        queue_name=row.queue_name or None,
    )


def fire(
    row: WorkflowSchedule, now: datetime, *, cap: int, grace: timedelta
) -> list[datetime] | None:
    """Fire one due schedule row as loaded: enqueue its due slots and move it on with a
    compare-and-set on the ``next_fire_at`` it was loaded with, in one transaction.

    Returns the slots enqueued, or ``None`` when another scheduler fired it first (or it
    was paused or deleted meanwhile). Raises ``DurableError`` if it cannot fire here.
    """
    from django_durable.schedules.batch import Planner, commit_fires, log_fires

    using = conf.database_alias()
    if row.next_fire_at is None:
        raise ValueError(f"Schedule {row.schedule_name!r} has no next fire time to fire.")
    planned = Planner(using, now=now, cap=cap, grace=grace).fire_of(due_schedule(row, using))
    with exclusive_transaction(using):
        fired = commit_fires(using, [planned])
    log_fires(fired, cap)
    return planned.slots if fired else None
