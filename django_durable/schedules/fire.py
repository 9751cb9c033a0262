"""Turning schedule slots into runs: the fire rule, triggers and backfills.

A fire is the run row: its id is deterministic (``sched-<name>-<UTC ISO seconds>``) and it
is inserted in the same transaction that moves the schedule's ``next_fire_at`` on with a
compare-and-set, so any number of schedulers racing produce one run per slot.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction

from django_durable import conf, registry
from django_durable.cron import Cron
from django_durable.db import notify
from django_durable.engine import events, runs
from django_durable.exceptions import RegistrationError
from django_durable.models import RunStatus, WorkflowRun, WorkflowSchedule
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


def workflow_of(row: WorkflowSchedule) -> WorkflowInfo:
    """The registered workflow a schedule runs, or ``WorkflowNotRegistered``/a clear error."""
    info = registry.get_workflow(row.workflow_name)
    if info.class_name != (row.workflow_class_name or None):
        raise RegistrationError(
            f"Schedule {row.schedule_name!r} names workflow {row.workflow_name!r} of class "
            f"{row.workflow_class_name!r}, but it is registered for class {info.class_name!r}."
        )
    return info


def slot_run(
    row: WorkflowSchedule, info: WorkflowInfo, slot: datetime, run_id: str
) -> WorkflowRun:
    """An unsaved ``ENQUEUED`` run of ``row``'s workflow for ``slot``.

    The workflow receives ``(scheduled_at, context)``: the slot as an aware datetime in
    the schedule's timezone, and the schedule's JSON context.
    """
    cron = Cron.parse(row.schedule, row.cron_timezone or None)
    receiver: tuple[object, ...] = (info.owner().cls,) if info.func_type is FuncType.CLASS else ()
    inv = runs.resolve(info, (*receiver, cron.local(slot), row.context), {})
    return runs.new_run(
        inv,
        run_id,
        status=RunStatus.ENQUEUED,
        queue_name=row.queue_name or registry.INTERNAL_QUEUE_NAME,
        schedule_name=row.schedule_name,
    )


def insert_runs(rows: Iterable[WorkflowRun], using: str) -> None:
    """Insert runs, skipping ids that exist (inside the caller's transaction)."""
    batch = list(rows)
    if batch:
        WorkflowRun.objects.using(using).bulk_create(batch, ignore_conflicts=True)
        for queue in {str(run.queue_name) for run in batch}:
            notify(using, queue)
        events.enqueued(batch, using)


def fire(
    row: WorkflowSchedule, now: datetime, *, cap: int, grace: timedelta
) -> list[datetime] | None:
    """Fire one due schedule: enqueue its due slots and move it on, in one transaction.

    Returns the slots enqueued, or ``None`` when another scheduler fired it first (or it
    was paused meanwhile). Raises ``DurableError`` if its workflow cannot run here.
    """
    info = workflow_of(row)
    if row.queue_name and not registry.queue_exists(row.queue_name):
        registry.get_queue(row.queue_name)  # undeclared here: leave it to another scheduler
    cron = Cron.parse(row.schedule, row.cron_timezone or None)
    expected = row.next_fire_at
    if expected is None:
        fire_plan = FirePlan(slots=[], next_fire_at=cron.next_after(now), missed=False)
    else:
        fire_plan = plan(
            cron, expected, now, automatic_backfill=row.automatic_backfill, cap=cap, grace=grace
        )
    new_runs = [
        slot_run(row, info, slot, slot_run_id(row.schedule_name, slot)) for slot in fire_plan.slots
    ]
    using = conf.database_alias()
    with transaction.atomic(using=using):
        last = fire_plan.slots[-1] if fire_plan.slots else None
        if not row.advance(
            expected=expected, next_fire_at=fire_plan.next_fire_at, last_fired_at=last
        ):
            return None
        insert_runs(new_runs, using)
        if fire_plan.slots:
            events.schedule_fired(
                row.schedule_name,
                fire_plan.slots,
                [run.pk for run in new_runs],
                using,
                workflow_name=row.workflow_name,
            )
    if fire_plan.missed:
        events.schedule_missed(row.schedule_name, row.workflow_name, expected)
        logger.warning(
            "Schedule %s missed slots since %s (automatic backfill %s, cap %d); next at %s",
            row.schedule_name,
            expected.isoformat() if expected else None,
            "on" if row.automatic_backfill else "off",
            cap,
            fire_plan.next_fire_at.isoformat(),
            extra={"action": "schedule_missed", "schedule": row.schedule_name},
        )
    if fire_plan.slots:
        logger.info(
            "Schedule %s fired %d slot(s): %s",
            row.schedule_name,
            len(fire_plan.slots),
            ", ".join(slot.isoformat() for slot in fire_plan.slots[:5])
            + (" ..." if len(fire_plan.slots) > 5 else ""),
            extra={"action": "schedule_fired", "schedule": row.schedule_name},
        )
    return fire_plan.slots
