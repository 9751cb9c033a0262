"""Writing schedule definitions: the one upsert behind ``create_schedule``,
``apply_schedules``, the admin's form and the code-defined schedules.

The rules, once for every entry point:

- a new schedule is inserted ``ACTIVE`` and fires from its first slot after now;
- an existing schedule keeps its id, its status (a paused one stays paused), its
  ``last_fired_at`` and its next fire time, unless its cron or timezone changed: then it
  fires from its first slot after now;
- an unchanged definition writes nothing (``updated_at`` stays);
- a schedule of the other origin (a runtime schedule where code defines one, or the
  reverse) is never overwritten: it is reported as a conflict.

Whatever the number of definitions, that is one locking SELECT, one INSERT of the new
rows that skips names inserted meanwhile by a concurrent writer (which are then read
and compared like the others), and one UPDATE of the changed rows.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.transaction import TransactionManagementError

from django_durable.definitions import ScheduleDefinition
from django_durable.models.bulk import (
    Quote,
    cached_sql,
    field_of,
    insert_ignoring_conflicts,
    prepare,
    prepared_row,
    update_by_pk,
)
from django_durable.models.schedules import ScheduleStatus, WorkflowSchedule

DEFINING = (
    "workflow_name",
    "workflow_class_name",
    "schedule",
    "context",
    "automatic_backfill",
    "cron_timezone",
    "queue_name",
)
"""The columns a definition sets besides the name."""

_WRITTEN = ("schedule_name", *DEFINING, "next_fire_at", "updated_at")


@dataclass(frozen=True, kw_only=True)
class Upserted:
    """What an upsert wrote."""

    rows: list[WorkflowSchedule]
    """The schedules as they now are, in the order of the definitions (conflicts left
    out)."""
    created: list[str]
    """Names of the rows inserted."""
    updated: list[str]
    """Names of the rows whose definition changed."""
    conflicts: list[str]
    """Names not written: the row exists with the other origin, or (``create_only``) at
    all."""


def _lock_sql(q: Quote, postgresql: bool) -> str:
    table = q(WorkflowSchedule._meta.db_table)
    match = "= ANY(%s)" if postgresql else "IN (SELECT value FROM json_each(%s))"
    return (
        f"SELECT * FROM {table} WHERE {q('schedule_name')} {match}"  # noqa: S608
        + (" FOR UPDATE" if postgresql else "")
    )


def lock_by_names(using: str, names: Sequence[str]) -> dict[str, WorkflowSchedule]:
    """The schedules with these names, locked until the transaction ends (one SELECT)."""
    if not names:
        return {}
    connection = connections[using]
    sql = cached_sql(connection, "schedules/lock", _lock_sql)
    value: Any = list(names) if connection.vendor == "postgresql" else json.dumps(list(names))
    return {
        row.schedule_name: row for row in WorkflowSchedule.objects.using(using).raw(sql, [value])
    }


def upsert(
    using: str,
    definitions: Sequence[ScheduleDefinition],
    *,
    origin: str,
    now: datetime,
    create_only: bool = False,
    current: Mapping[str, WorkflowSchedule] | None = None,
) -> Upserted:
    """Write ``definitions`` (valid, distinct names) as schedules of ``origin``, inside
    the caller's transaction.

    ``current`` gives the existing row of a definition instead of looking it up by name
    (the admin edits a schedule by id, and may rename it). With ``create_only`` an
    existing name is a conflict.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise TransactionManagementError("upsert() must run inside a transaction.")
    existing = (
        dict(current)
        if current is not None
        else lock_by_names(using, [item.schedule_name for item in definitions])
    )
    nexts: dict[tuple[str, str | None], datetime] = {}

    def first_slot(item: ScheduleDefinition) -> datetime:
        key = (item.schedule, item.cron_timezone)
        if key not in nexts:
            nexts[key] = item.cron().next_after(now)
        return nexts[key]

    result: dict[str, WorkflowSchedule] = {}
    created: list[str] = []
    updated: list[str] = []
    conflicts: list[str] = []
    fresh: list[tuple[ScheduleDefinition, WorkflowSchedule]] = []
    changed: list[WorkflowSchedule] = []
    for item in definitions:
        row = existing.get(item.schedule_name)
        if row is None:
            fresh.append((item, _new_row(item, origin, first_slot(item), now)))
        elif row.origin != origin or create_only:
            conflicts.append(item.schedule_name)
        elif row.definition().same_as(item):
            result[item.schedule_name] = row
        else:
            _redefine(row, item, first_slot(item) if row.definition().retimes(item) else None)
            row.updated_at = now
            changed.append(row)
            result[item.schedule_name] = row
            updated.append(item.schedule_name)

    if fresh:
        rows = [prepared_row(row, connection) for _, row in fresh]
        inserted = insert_ignoring_conflicts(using, WorkflowSchedule, rows)
        raced: list[ScheduleDefinition] = []
        theirs: dict[str, WorkflowSchedule] = {}
        if inserted < len(fresh):
            # Another writer inserted some of these names since the lock: compare with
            # its rows like with any existing row.
            theirs = lock_by_names(using, [item.schedule_name for item, _ in fresh])
        for item, row in fresh:
            other = theirs.get(item.schedule_name)
            if other is not None and other.pk != row.pk:
                raced.append(item)
                continue
            row._state.adding, row._state.db = False, using
            result[item.schedule_name] = row
            created.append(item.schedule_name)
        if raced:
            again = upsert(
                using,
                raced,
                origin=origin,
                now=now,
                create_only=create_only,
                current={item.schedule_name: theirs[item.schedule_name] for item in raced},
            )
            result.update((row.schedule_name, row) for row in again.rows)
            updated += again.updated
            conflicts += again.conflicts

    if changed:
        fields = [field_of(WorkflowSchedule, name) for name in _WRITTEN]
        update_by_pk(
            using,
            WorkflowSchedule,
            _WRITTEN,
            [
                [
                    prepare(field_of(WorkflowSchedule, "schedule_id"), row.pk, connection),
                    *(prepare(f, getattr(row, f.attname), connection) for f in fields),
                ]
                for row in changed
            ],
        )
    return Upserted(
        rows=[result[item.schedule_name] for item in definitions if item.schedule_name in result],
        created=created,
        updated=updated,
        conflicts=conflicts,
    )


def _new_row(
    item: ScheduleDefinition, origin: str, next_fire_at: datetime, now: datetime
) -> WorkflowSchedule:
    row = WorkflowSchedule(
        schedule_id=uuid.uuid4(),
        schedule_name=item.schedule_name,
        status=ScheduleStatus.ACTIVE,
        origin=origin,
        next_fire_at=next_fire_at,
        created_at=now,
        updated_at=now,
    )
    _redefine(row, item, None)
    return row


def _redefine(
    row: WorkflowSchedule, item: ScheduleDefinition, next_fire_at: datetime | None
) -> None:
    row.schedule_name = item.schedule_name
    for name in DEFINING:
        setattr(row, name, getattr(item, name))
    if next_fire_at is not None:
        row.next_fire_at = next_fire_at
