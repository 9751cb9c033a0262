"""Runs an operator asks for: trigger a schedule now, or backfill a range of its slots.

Both ignore pause. A trigger never de-duplicates (its id carries the time in
microseconds); a backfill uses the live fire ids, so slots that already ran are skipped.
A backfilled slot that is still in the future is enqueued to start at its slot: it never
runs early, and the live fire of that slot later finds it and adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from django_durable import conf
from django_durable.cron import EARLIEST, LATEST, in_range
from django_durable.db import notify
from django_durable.engine import events
from django_durable.engine.enqueue import insert_enqueued
from django_durable.engine.handles import WorkflowHandle
from django_durable.exceptions import InvalidScheduleError, ScheduleNotFound
from django_durable.models import WorkflowRun, WorkflowSchedule
from django_durable.models.bulk import insert_ignoring_conflicts, prepared_row
from django_durable.registry import WorkflowInfo
from django_durable.schedules import fire

logger = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)


def _get(name: str) -> WorkflowSchedule:
    row: WorkflowSchedule | None = (
        WorkflowSchedule.objects.using(conf.database_alias()).filter(schedule_name=name).first()
    )
    if row is None:
        raise ScheduleNotFound(f"No schedule named {name!r}.")
    return row


def trigger_schedule(name: str) -> WorkflowHandle:
    """Enqueue a run of the schedule now, even if paused; its handle.

    The run's id is ``sched-<name>-trigger-<UTC time with microseconds>``: a trigger never
    takes the place of a slot.
    """
    row = _get(name)
    info = fire.workflow_of(row)
    now = timezone.now()
    run = fire.row_slot_run(row, info, now, fire.trigger_run_id(name, now))
    insert_enqueued(run)
    logger.info(
        "Schedule %s triggered: %s",
        name,
        run.pk,
        extra={"action": "schedule_triggered", "schedule": name, "workflow_id": run.pk},
    )
    return WorkflowHandle(run.pk)


@dataclass(frozen=True, kw_only=True)
class Backfill:
    """What a backfill enqueued."""

    slots: list[datetime]
    """Every slot strictly between start and end (UTC), ascending."""
    created: list[str]
    """Ids of the runs it enqueued."""
    existing: list[str]
    """Ids of slots that already had a run (fired live or backfilled before)."""

    @property
    def workflow_ids(self) -> list[str]:
        return sorted([*self.created, *self.existing])


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidScheduleError(f"{what} must be a datetime, got {value!r}.", field=what)
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if not in_range(aware):
        raise InvalidScheduleError(
            f"The backfill {what} {value.isoformat()} is outside the range schedules are "
            f"computed in ({EARLIEST.isoformat()} to {LATEST.isoformat()}).",
            field=what,
        )
    return aware


def backfill_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The bounds of a backfill as aware datetimes (naive means UTC), or
    ``InvalidScheduleError`` naming the bad one: each a datetime from ``cron.EARLIEST`` to
    ``cron.LATEST``, the start before the end. The API, the admin's form and the
    ``durable`` command all check a range with this function."""
    first, last = _aware(start, "start"), _aware(end, "end")
    if first >= last:
        raise InvalidScheduleError(
            f"The backfill start {first.isoformat()} must be before its end {last.isoformat()}.",
            field="start",
        )
    return first, last


def _range(
    start: datetime | None,
    end: datetime | None,
    start_time: datetime | None,
    end_time: datetime | None,
) -> tuple[datetime, datetime]:
    if start is not None and start_time is not None:
        raise TypeError("Give start or start_time, not both.")
    if end is not None and end_time is not None:
        raise TypeError("Give end or end_time, not both.")
    first, last = start if start is not None else start_time, end if end is not None else end_time
    if first is None or last is None:
        raise TypeError("backfill_schedule needs a start and an end.")
    return backfill_range(first, last)


def backfill_slots(name: str, start: datetime, end: datetime, *, limit: int) -> list[datetime]:
    """The slots of schedule ``name`` strictly between ``start`` and ``end`` (aware).

    More than ``limit`` slots raise ``InvalidScheduleError`` (nothing is enqueued).
    """
    return row_slots(_get(name), start, end, limit=limit)


def row_slots(
    row: WorkflowSchedule, start: datetime, end: datetime, *, limit: int
) -> list[datetime]:
    """``backfill_slots`` for a schedule row already loaded (the admin's selection)."""
    start, end = backfill_range(start, end)
    slots: list[datetime] = []
    for slot in row.definition().cron().slots_between(start, end):
        if len(slots) >= limit:
            raise InvalidScheduleError(
                f"Backfilling {row.schedule_name!r} from {start.isoformat()} to "
                f"{end.isoformat()} would enqueue more than {limit} runs "
                f"(DURABLE['MAX_BACKFILL']); narrow the range.",
                field="end",
            )
        slots.append(slot)
    return slots


def backfill(name: str, start: datetime, end: datetime) -> Backfill:
    """Enqueue every slot strictly between ``start`` and ``end`` that has no run yet."""
    row = _get(name)
    info = fire.workflow_of(row)
    slots = row_slots(row, start, end, limit=int(conf.get("MAX_BACKFILL")))
    return _enqueue(row, info, slots)


def enqueue_slots(name: str, slots: Sequence[datetime]) -> Backfill:
    """Enqueue the given slots of schedule ``name`` that have no run yet, in one transaction.

    The entry point of a backfill done in chunks (to report progress, or to keep each
    transaction short): compute the slots with ``backfill_slots``, which applies
    ``DURABLE["MAX_BACKFILL"]``, then pass them here a chunk at a time. Each slot must be an
    aware fire instant of the schedule, else ``InvalidScheduleError`` and nothing is
    enqueued. Like ``backfill``, it ignores pause and skips slots that already have a run.
    """
    row = _get(name)
    info = fire.workflow_of(row)
    cron = row.definition().cron()
    utc_slots: list[datetime] = []
    for slot in slots:
        if not isinstance(slot, datetime) or slot.utcoffset() is None or not in_range(slot):
            raise InvalidScheduleError(
                f"A backfill slot must be an aware datetime from {EARLIEST.isoformat()} to "
                f"{LATEST.isoformat()}, got {slot!r}.",
                field="start",
            )
        if cron.next_after(slot - _TICK) != slot:
            raise InvalidScheduleError(
                f"{slot.isoformat()} is not a slot of schedule {name!r} ({row.schedule}).",
                field="start",
            )
        utc_slots.append(slot.astimezone(UTC))
    return _enqueue(row, info, utc_slots)


def _enqueue(row: WorkflowSchedule, info: WorkflowInfo, slots: list[datetime]) -> Backfill:
    name = row.schedule_name
    ids = [fire.slot_run_id(name, slot) for slot in slots]
    using = conf.database_alias()
    now = timezone.now()
    with transaction.atomic(using=using):
        rows = WorkflowRun.objects.using(using).filter(pk__in=ids)
        existing = set(rows.values_list("pk", flat=True))
        fresh = [
            # A slot still to come waits for its time.
            fire.row_slot_run(row, info, slot, run_id, run_after=slot if slot > now else None)
            for slot, run_id in zip(slots, ids, strict=True)
            if run_id not in existing
        ]
        _insert(fresh, using)
    result = Backfill(
        slots=slots,
        created=[run.pk for run in fresh],
        existing=[run_id for run_id in ids if run_id in existing],
    )
    logger.info(
        "Schedule %s backfilled: %d slot(s), %d enqueued, %d already had a run",
        name,
        len(slots),
        len(result.created),
        len(result.existing),
        extra={"action": "schedule_backfilled", "schedule": name},
    )
    return result


def _insert(fresh: list[WorkflowRun], using: str) -> None:
    """Insert runs (skipping ids that exist) and wake the workers of their queues."""
    if not fresh:
        return
    connection = connections[using]
    insert_ignoring_conflicts(using, WorkflowRun, [prepared_row(run, connection) for run in fresh])
    for queue in sorted({str(run.queue_name) for run in fresh}):
        notify(using, queue)
    events.enqueued(fresh, using)


def backfill_schedule(
    schedule_name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
) -> list[WorkflowHandle]:
    """Enqueue every slot strictly between ``start`` and ``end`` (naive means UTC), even if
    the schedule is paused; a handle per slot.

    Slots use the live fire ids, so slots that already ran (or were backfilled) are not
    enqueued again. ``start_time``/``end_time`` are accepted as aliases.
    """
    first, last = _range(start, end, start_time, end_time)
    result = backfill(schedule_name, first, last)
    return [WorkflowHandle(fire.slot_run_id(schedule_name, slot)) for slot in result.slots]
