"""The schedule API: create, list, get, pause, resume, trigger, delete, backfill, apply.

Names and dict keys follow DBOS Transact. Every function validates first and writes
nothing on bad input.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from django_durable import conf, definitions
from django_durable.db import SCHEDULE_CHANNEL, exclusive_transaction, notify
from django_durable.definitions import ScheduleDefinition
from django_durable.exceptions import InvalidScheduleError, ScheduleConflict, ScheduleNotFound
from django_durable.models import ScheduleOrigin, WorkflowSchedule

logger = logging.getLogger(__name__)


class ScheduleInput(TypedDict):
    """One entry of ``apply_schedules`` (a plain dict with these keys works too)."""

    schedule_name: str
    workflow_fn: Any
    schedule: str
    context: NotRequired[Any]
    automatic_backfill: NotRequired[bool]
    cron_timezone: NotRequired[str | None]
    queue_name: NotRequired[str | None]


_REQUIRED = ("schedule_name", "workflow_fn", "schedule")
_KEYS = frozenset(ScheduleInput.__annotations__)


def _rows() -> Any:
    return WorkflowSchedule.objects.using(conf.database_alias())


def _changed(name: str) -> None:
    """Wake idle schedulers (PostgreSQL) once the caller's transaction commits."""
    notify(conf.database_alias(), name, SCHEDULE_CHANNEL)


def _definition(
    *,
    schedule_name: str,
    workflow_fn: Any,
    schedule: str,
    context: Any = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
) -> ScheduleDefinition:
    workflow_name, class_name = definitions.resolve_workflow(workflow_fn)
    definition = ScheduleDefinition(
        schedule_name=schedule_name,
        workflow_name=workflow_name,
        workflow_class_name=class_name,
        schedule=schedule.strip() if isinstance(schedule, str) else schedule,
        context=context,
        automatic_backfill=automatic_backfill,
        cron_timezone=cron_timezone,
        queue_name=queue_name,
    )
    definitions.validate(definition)
    return definition


def create_schedule(
    *,
    schedule_name: str,
    workflow_fn: Any,
    schedule: str,
    context: Any = None,
    automatic_backfill: bool = False,
    cron_timezone: str | None = None,
    queue_name: str | None = None,
) -> dict[str, Any]:
    """Create a runtime schedule; it fires from its first slot after now. Its dict.

    ``workflow_fn`` is a workflow taking ``(scheduled_at, context)``: a function, or a
    static or class method of a ``@durable_class``. A duplicate name raises
    ``ScheduleConflict``; bad input raises ``InvalidScheduleError``; nothing is written.
    """
    definition = _definition(
        schedule_name=schedule_name,
        workflow_fn=workflow_fn,
        schedule=schedule,
        context=context,
        automatic_backfill=automatic_backfill,
        cron_timezone=cron_timezone,
        queue_name=queue_name,
    )
    using = conf.database_alias()
    with exclusive_transaction(using):
        written = _rows().upsert(
            [definition], origin=ScheduleOrigin.RUNTIME, now=timezone.now(), create_only=True
        )
        if written.conflicts:
            raise ScheduleConflict(f"A schedule named {schedule_name!r} already exists.")
        _changed(schedule_name)
    row: WorkflowSchedule = written.rows[0]
    logger.info(
        "Schedule %s created (%s, %s)",
        schedule_name,
        definition.schedule,
        definition.workflow_name,
        extra={"action": "schedule_created", "schedule": schedule_name},
    )
    return row.to_dict()


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def list_schedules(
    *,
    status: str | Iterable[str] | None = None,
    workflow_name: str | Iterable[str] | None = None,
    schedule_name_prefix: str | Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Schedules matching every given filter (each a str or a list), by name."""
    rows = _rows()
    statuses = _as_list(status)
    if statuses is not None:
        rows = rows.filter(status__in=statuses)
    names = _as_list(workflow_name)
    if names is not None:
        rows = rows.filter(workflow_name__in=names)
    prefixes = _as_list(schedule_name_prefix)
    if prefixes is not None:
        condition = Q(pk__in=[])  # an empty list of prefixes matches nothing
        for prefix in prefixes:
            condition |= Q(schedule_name__startswith=prefix)
        rows = rows.filter(condition)
    return [row.to_dict() for row in rows.order_by("schedule_name")]


def get_schedule(name: str) -> dict[str, Any] | None:
    """The schedule's dict, or ``None`` if no schedule has that name."""
    row = _rows().filter(schedule_name=name).first()
    return row.to_dict() if row is not None else None


def pause_schedule(name: str) -> bool:
    """Stop a schedule firing (a no-op if paused); ``False`` if no schedule has that name."""
    row = _rows().filter(schedule_name=name).first()
    if row is None:
        return False
    if row.pause():
        logger.info(
            "Schedule %s paused", name, extra={"action": "schedule_paused", "schedule": name}
        )
    return True


def resume_schedule(name: str) -> bool:
    """Make a paused schedule fire again from its next slot after now (the paused time is
    not made up; a no-op if active); ``False`` if no schedule has that name."""
    row = _rows().filter(schedule_name=name).first()
    if row is None:
        return False
    next_fire_at = row.definition().cron().next_after(timezone.now())
    using = conf.database_alias()
    with transaction.atomic(using=using):
        if row.resume(next_fire_at):
            _changed(name)
            logger.info(
                "Schedule %s resumed; next at %s",
                name,
                next_fire_at.isoformat(),
                extra={"action": "schedule_resumed", "schedule": name},
            )
    return True


def delete_schedule(name: str) -> bool:
    """Delete a runtime schedule (its runs stay); ``False`` if no schedule has that name.

    A schedule defined in code raises ``ScheduleConflict``: it would come back at the next
    scheduler start; remove its ``@scheduled`` decorator instead (or pause it).
    """
    row = _rows().filter(schedule_name=name).first()
    if row is None:
        return False
    if row.origin == ScheduleOrigin.CODE:
        raise ScheduleConflict(
            f"Schedule {name!r} is defined in code with @scheduled; remove the decorator to "
            f"delete it, or pause it."
        )
    deleted, _ = _rows().filter(pk=row.pk).delete()
    if deleted:
        logger.info(
            "Schedule %s deleted", name, extra={"action": "schedule_deleted", "schedule": name}
        )
    return True


def _entry(raw: Mapping[str, Any], index: int) -> ScheduleDefinition:
    if not isinstance(raw, Mapping):
        raise InvalidScheduleError(f"Schedule entry {index} must be a dict, got {raw!r}.")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise InvalidScheduleError(
            f"Schedule entry {index} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(_KEYS))}."
        )
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise InvalidScheduleError(
            f"Schedule entry {index} lacks {', '.join(map(repr, missing))}.",
            field=missing[0],
        )
    return _definition(**raw)


def save_schedule(definition: ScheduleDefinition, *, schedule_id: Any = None) -> WorkflowSchedule:
    """Create a runtime schedule, or update schedule ``schedule_id`` to ``definition``
    (what the admin form saves). Validates first; a code-defined schedule's definition
    cannot be changed (``ScheduleConflict``), and a name in use by another schedule is a
    ``ScheduleConflict``."""
    definitions.validate(definition)
    using = conf.database_alias()
    try:
        with exclusive_transaction(using):
            current = None
            if schedule_id is not None:
                found = _rows().select_for_update().filter(pk=schedule_id).first()
                if found is None:
                    raise ScheduleNotFound(f"No schedule with id {schedule_id!r}.")
                if found.origin == ScheduleOrigin.CODE:
                    raise ScheduleConflict(
                        f"Schedule {found.schedule_name!r} is defined in code with @scheduled; "
                        f"change the decorator instead."
                    )
                current = {definition.schedule_name: found}
            written = _rows().upsert(
                [definition],
                origin=ScheduleOrigin.RUNTIME,
                now=timezone.now(),
                create_only=schedule_id is None,
                current=current,
            )
            if written.conflicts:
                raise ScheduleConflict(
                    f"A schedule named {definition.schedule_name!r} already exists."
                )
            row: WorkflowSchedule = written.rows[0]
            _changed(definition.schedule_name)
    except IntegrityError:
        raise ScheduleConflict(
            f"A schedule named {definition.schedule_name!r} already exists."
        ) from None
    logger.info(
        "Schedule %s saved (%s, %s)",
        definition.schedule_name,
        definition.schedule,
        definition.workflow_name,
        extra={"action": "schedule_saved", "schedule": definition.schedule_name},
    )
    return row


def apply_schedules(entries: Iterable[ScheduleInput | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Create or update runtime schedules, all or none, in one transaction; their dicts.

    Every entry is validated first. An existing schedule keeps its id, its status (a
    paused one stays paused) and its ``last_fired_at``; an edit of its cron or timezone
    makes it fire from its next slot after now. Schedules not listed are left alone.
    """
    definitions_ = [_entry(raw, index) for index, raw in enumerate(entries)]
    names = [item.schedule_name for item in definitions_]
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ScheduleConflict(
            f"apply_schedules got the schedule name(s) {', '.join(map(repr, duplicates))} "
            f"more than once."
        )
    using = conf.database_alias()
    with exclusive_transaction(using):
        written = _rows().upsert(definitions_, origin=ScheduleOrigin.RUNTIME, now=timezone.now())
        if written.conflicts:
            raise ScheduleConflict(
                f"Schedule(s) {', '.join(map(repr, sorted(written.conflicts)))} are defined "
                f"in code with @scheduled; change the decorator instead."
            )
        if written.created or written.updated:
            _changed("*")
    rows = written.rows
    logger.info(
        "Applied %d schedule(s) (%d created, %d changed): %s",
        len(rows),
        len(written.created),
        len(written.updated),
        ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""),
        extra={"action": "schedules_applied"},
    )
    return [row.to_dict() for row in rows]
