"""Schedules defined in code: the ``@scheduled`` decorator and writing them as rows.

A code-defined schedule exists while its decorator does. The scheduler writes them when it
starts (inserting new ones, updating changed definitions, never un-pausing one an operator
paused) and deletes the rows of decorators that are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django_durable import conf, definitions, registry
from django_durable.cron import Cron
from django_durable.db import SCHEDULE_CHANNEL, exclusive_transaction, notify
from django_durable.definitions import ScheduleDefinition
from django_durable.exceptions import InvalidScheduleError, RegistrationError
from django_durable.models import ScheduleOrigin, WorkflowSchedule

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def scheduled(
    cron: str,
    *,
    name: str | None = None,
    cron_timezone: str | None = None,
    automatic_backfill: bool = False,
    queue_name: str | None = None,
    context: Any = None,
) -> Callable[[F], F]:
    """Run the decorated workflow on ``cron`` (put it above ``@workflow()``).

    The schedule is named ``name`` (default: the workflow's name). The workflow takes
    ``(scheduled_at, context)``. The cron, timezone and context are checked at once; the
    queue, which may be declared later, when the scheduler starts and by a system check.
    """
    Cron.parse(cron, cron_timezone)
    probe = ScheduleDefinition(
        schedule_name=name or "probe",
        workflow_name="",
        workflow_class_name=None,
        schedule=cron,
        context=context,
        automatic_backfill=automatic_backfill,
    )
    for field in ("schedule_name", "context", "automatic_backfill"):
        problem = definitions.errors_of(probe, check_queue=False).get(field)
        if problem is not None:
            raise InvalidScheduleError(problem, field=field)

    def decorator(fn: F) -> F:
        target = getattr(fn, "__func__", fn)  # a staticmethod/classmethod object
        info = getattr(target, "__durable_workflow__", None)
        if info is None:
            raise RegistrationError(
                f"@scheduled needs a workflow: put it above @workflow() on "
                f"{getattr(fn, '__qualname__', fn)!r}."
            )
        if not registry.is_method_qualname(info.func.__qualname__):
            problem = definitions.workflow_problem(info)
            if problem is not None:
                raise RegistrationError(problem)
        registry.register_code_schedule(
            registry.CodeSchedule(
                name=name,
                workflow=info,
                schedule=cron.strip(),
                context=context,
                automatic_backfill=automatic_backfill,
                cron_timezone=cron_timezone,
                queue_name=queue_name,
                module=str(getattr(fn, "__module__", info.module)),
            )
        )
        return fn

    return decorator


def definition_of(entry: registry.CodeSchedule) -> ScheduleDefinition:
    return ScheduleDefinition(
        schedule_name=entry.schedule_name,
        workflow_name=entry.workflow.name,
        workflow_class_name=entry.workflow.class_name,
        schedule=entry.schedule,
        context=entry.context,
        automatic_backfill=entry.automatic_backfill,
        cron_timezone=entry.cron_timezone,
        queue_name=entry.queue_name,
    )


@dataclass(frozen=True, kw_only=True)
class SyncResult:
    """What writing the code-defined schedules changed."""

    created: list[str]
    """Names of new rows."""
    updated: list[str]
    """Names of rows whose definition changed."""
    deleted: list[str]
    """Names of rows whose decorator is gone."""
    invalid: dict[str, str]
    """Declarations that could not be written, with the reason."""


def code_definitions() -> tuple[list[ScheduleDefinition], dict[str, str]]:
    """The valid code-defined schedules of this process, and the invalid ones' problems."""
    valid: list[ScheduleDefinition] = []
    invalid: dict[str, str] = {}
    seen: set[str] = set()
    for entry in registry.code_schedules():
        definition = definition_of(entry)
        errors = definitions.errors_of(definition)
        if definition.schedule_name in seen:
            errors["schedule_name"] = (
                f"Schedule name {definition.schedule_name!r} is declared by more than one "
                f"@scheduled; give one of them name=...."
            )
        seen.add(definition.schedule_name)
        if errors:
            invalid[definition.schedule_name] = " ".join(errors.values())
        else:
            valid.append(definition)
    return valid, invalid


def sync_code_schedules(now: datetime) -> SyncResult:
    """Write this process's ``@scheduled`` declarations as rows, in one transaction."""
    valid, invalid = code_definitions()
    for name, problem in invalid.items():
        logger.error(
            "Code-defined schedule %s is invalid and was not written: %s",
            name,
            problem,
            extra={"action": "schedule_invalid", "schedule": name},
        )
    using = conf.database_alias()
    rows = WorkflowSchedule.objects.using(using)
    with exclusive_transaction(using):
        written = rows.upsert(valid, origin=ScheduleOrigin.CODE, now=now)
        for name in written.conflicts:
            invalid[name] = "a runtime schedule with that name exists"
            logger.error(
                "Code-defined schedule %s clashes with a runtime schedule of that name; "
                "the runtime one is kept",
                name,
                extra={"action": "schedule_invalid", "schedule": name},
            )
        gone = rows.defined_in_code().exclude(
            schedule_name__in=[item.schedule_name for item in valid] + list(invalid)
        )
        deleted = sorted(gone.values_list("schedule_name", flat=True))
        if deleted:
            gone.delete()
        created, updated = written.created, written.updated
        if created or updated or deleted:
            notify(using, "*", SCHEDULE_CHANNEL)
    for action, names in (("created", created), ("updated", updated), ("deleted", deleted)):
        if names:
            logger.info(
                "Code-defined schedules %s: %s",
                action,
                ", ".join(names),
                extra={"action": f"code_schedules_{action}"},
            )
    return SyncResult(created=created, updated=updated, deleted=deleted, invalid=invalid)
