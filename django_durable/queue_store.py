"""Queues in the database: register, retrieve, list, change and delete them at runtime,
write the queues declared in code as rows, and give workers the settings in force.

Names follow DBOS Transact (``register_queue``, ``retrieve_queue``, ``list_queues``,
``delete_queue``). A change commits in one transaction and every worker of every process
applies it within a second (workers re-read the rows of the queues they serve).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.utils import timezone

from django_durable import conf, registry
from django_durable.db import exclusive_transaction, notify
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import InvalidQueueError, InvalidStateError, QueueNotFound
from django_durable.models import QueueOrigin, WorkflowQueue
from django_durable.queue_limits import Limiter, QueueSettings, check_name, problems
from django_durable.queues import INTERNAL_QUEUE_NAME, Queue

logger = logging.getLogger(__name__)

OnConflict = Literal["always_update", "never_update", "update_if_latest_version"]


def queue_rows() -> Any:
    return WorkflowQueue.objects.using(conf.database_alias())


def settings_of(row: WorkflowQueue) -> QueueSettings:
    """A row's settings as a value object (as stored; the admin form validated them)."""
    limiter = None
    if row.limiter_limit is not None and row.limiter_period is not None:
        limiter = Limiter(limit=row.limiter_limit, period=float(row.limiter_period))
    return QueueSettings(
        concurrency=row.concurrency,
        worker_concurrency=row.worker_concurrency,
        limiter=limiter,
        priority_enabled=row.priority_enabled,
        partition_queue=row.partition_queue,
        polling_interval_sec=row.polling_interval_sec,
    )


def _checked(name: str, values: dict[str, Any]) -> QueueSettings:
    """``values`` as settings, or ``InvalidQueueError`` naming the first bad setting."""
    settings, errors = problems(values)
    if settings is None:
        field = next(iter(errors))
        raise InvalidQueueError(f"Queue {name!r}: {' '.join(errors.values())}", field=field)
    return settings


def register_queue(
    name: str,
    *,
    concurrency: int | None = None,
    worker_concurrency: int | None = None,
    limiter: dict[str, Any] | None = None,
    priority_enabled: bool = False,
    partition_queue: bool = False,
    polling_interval_sec: float | None = None,
    on_conflict: OnConflict = "always_update",
    global_concurrency: int | None = None,
) -> Queue:
    """Create a queue in the database (or, by default, replace an existing one's
    settings); every worker serves it from its next poll. Returns it.

    ``on_conflict="never_update"`` leaves an existing queue as it is (``"always_update"``,
    the default, and DBOS's ``"update_if_latest_version"`` replace its settings).
    ``global_concurrency`` is DBOS's newer name of ``concurrency``. Bad settings raise
    ``InvalidQueueError`` and write nothing.
    """
    problem = check_name(name)
    if problem is not None:
        raise InvalidQueueError(problem, field="name")
    if name == INTERNAL_QUEUE_NAME:
        raise InvalidQueueError(f"Queue {name!r} is the internal queue; it has no settings.")
    if on_conflict not in ("always_update", "never_update", "update_if_latest_version"):
        raise InvalidQueueError(
            f"on_conflict must be 'always_update', 'never_update' or "
            f"'update_if_latest_version', got {on_conflict!r}.",
            field="on_conflict",
        )
    if concurrency is not None and global_concurrency is not None:
        raise InvalidQueueError(
            "Give concurrency or global_concurrency (its newer name), not both.",
            field="concurrency",
        )
    settings = _checked(
        name,
        {
            "concurrency": concurrency if concurrency is not None else global_concurrency,
            "worker_concurrency": worker_concurrency,
            "limiter": limiter,
            "priority_enabled": priority_enabled,
            "partition_queue": partition_queue,
            "polling_interval_sec": polling_interval_sec,
        },
    )
    using = conf.database_alias()
    now = timezone.now()
    with exclusive_transaction(using):
        row = queue_rows().select_for_update().filter(name=name).first()
        if row is None:
            row = WorkflowQueue(name=name, created_at=now, **settings.as_row())
            row.updated_at = now
            row.save(using=using, force_insert=True)
            action = "created"
        elif on_conflict == "never_update":
            return Queue.stored(name, settings_of(row))
        else:
            for field, value in settings.as_row().items():
                setattr(row, field, value)
            row.updated_at = now
            row.save(using=using)
            action = "updated"
        notify(using, name)
    logger.info(
        "Queue %s %s: %s",
        name,
        action,
        describe(settings),
        extra={"action": f"queue_{action}", "queue": name},
    )
    return Queue.stored(name, settings)


def retrieve_queue(name: str) -> Queue | None:
    """The queue ``name`` with the settings in force, or ``None`` if no queue has that
    name (in the database, or declared in this process's code)."""
    row = queue_rows().filter(name=name).first()
    if row is not None:
        return Queue.stored(name, settings_of(row))
    declared = _declared().get(name)
    return Queue.stored(name, declared.declaration) if declared is not None else None


def list_queues() -> list[Queue]:
    """Every queue with the settings in force, by name: the rows, and the queues declared
    in this process's code that no worker has written yet (not the internal queue)."""
    found = {row.name: Queue.stored(row.name, settings_of(row)) for row in queue_rows()}
    for name, declared in _declared().items():
        found.setdefault(name, Queue.stored(name, declared.declaration))
    return [found[name] for name in sorted(found)]


def delete_queue(name: str) -> bool:
    """Delete a queue registered at runtime; ``False`` if there is none. Its enqueued runs
    stay enqueued and run again once a queue of that name exists. A queue declared in code
    raises ``InvalidStateError``: remove its declaration instead."""
    if name in _declared():
        raise InvalidStateError(
            f"Queue {name!r} is declared in code with Queue(...); remove the declaration to "
            f"delete it (or change its settings)."
        )
    deleted, _ = queue_rows().filter(name=name).delete()
    if deleted:
        logger.info("Queue %s deleted", name, extra={"action": "queue_deleted", "queue": name})
    return bool(deleted)


async def register_queue_async(name: str, **settings: Any) -> Queue:
    """``register_queue`` for coroutines."""
    return await runtimes.current().run_sync(lambda: register_queue(name, **settings))


async def retrieve_queue_async(name: str) -> Queue | None:
    return await runtimes.current().run_sync(lambda: retrieve_queue(name))


async def list_queues_async() -> list[Queue]:
    return await runtimes.current().run_sync(list_queues)


async def delete_queue_async(name: str) -> bool:
    return await runtimes.current().run_sync(lambda: delete_queue(name))


def update_queue(queue: Queue, changes: dict[str, Any]) -> QueueSettings:
    """Apply ``changes`` to the stored settings of ``queue`` (validated against the row as
    it is now, under its lock); the new settings. A declared queue not yet written is
    written first."""
    using = conf.database_alias()
    now = timezone.now()
    with exclusive_transaction(using):
        row = queue_rows().select_for_update().filter(name=queue.name).first()
        if row is None:
            declared = _declared().get(queue.name)
            if declared is None:
                raise QueueNotFound(f"No queue named {queue.name!r} exists (deleted?).")
            row = _code_row(declared, now)
            row.save(using=using, force_insert=True)
        values = settings_of(row).as_declaration() | changes
        settings = _checked(queue.name, values)
        for field, value in settings.as_row().items():
            setattr(row, field, value)
        row.updated_at = now
        row.save(using=using)
        notify(using, queue.name)
    logger.info(
        "Queue %s changed: %s",
        queue.name,
        describe(settings),
        extra={"action": "queue_changed", "queue": queue.name},
    )
    return settings


def describe(settings: QueueSettings) -> str:
    """The settings in one line for logs and messages."""
    parts = [
        f"concurrency={settings.concurrency}",
        f"worker_concurrency={settings.worker_concurrency}",
    ]
    if settings.limiter is not None:
        parts.append(f"limit={settings.limiter.limit}/{settings.limiter.period:g}s")
    if settings.partition_queue:
        parts.append("partitioned")
    if settings.polling_interval_sec is not None:
        parts.append(f"polling={settings.polling_interval_sec:g}s")
    return ", ".join(parts)


# ---------------------------------------------------------------- queues declared in code


def _declared() -> dict[str, Queue]:
    return {
        queue.name: queue for queue in registry.all_queues() if queue.name != INTERNAL_QUEUE_NAME
    }


def _code_row(queue: Queue, now: datetime) -> WorkflowQueue:
    return WorkflowQueue(
        name=queue.name,
        origin=QueueOrigin.CODE,
        declared=queue.declaration.as_declaration(),
        created_at=now,
        updated_at=now,
        **queue.declaration.as_row(),
    )


@dataclass(frozen=True, kw_only=True)
class QueueSync:
    """What writing the queues declared in code changed."""

    created: list[str]
    """Queues written for the first time."""
    updated: list[str]
    """Queues whose declaration changed in the code (their settings were replaced)."""


def sync_code_queues(now: datetime | None = None) -> QueueSync:
    """Write this process's declared queues as rows, in one transaction: new ones are
    inserted; one whose declaration changed since it was last written gets the new
    settings; one whose declaration did not change keeps the settings changed at runtime.
    A queue registered at runtime under a declared name keeps its settings."""
    now = now or timezone.now()
    declared = _declared()
    if not declared:
        return QueueSync(created=[], updated=[])
    using = conf.database_alias()
    created: list[str] = []
    updated: list[str] = []
    with exclusive_transaction(using):
        rows = {
            row.name: row for row in queue_rows().select_for_update().filter(name__in=declared)
        }
        for name, queue in sorted(declared.items()):
            row = rows.get(name)
            wanted = queue.declaration.as_declaration()
            if row is None:
                WorkflowQueue.objects.using(using).bulk_create(
                    [_code_row(queue, now)], ignore_conflicts=True
                )
                created.append(name)
            elif row.origin == QueueOrigin.CODE and row.declared != wanted:
                for field, value in queue.declaration.as_row().items():
                    setattr(row, field, value)
                row.declared, row.updated_at = wanted, now
                row.save(using=using)
                updated.append(name)
    for action, names in (("created", created), ("updated", updated)):
        if names:
            logger.info(
                "Code-declared queues %s: %s",
                action,
                ", ".join(names),
                extra={"action": f"code_queues_{action}"},
            )
    return QueueSync(created=created, updated=updated)


def _stored_queue_exists(name: str) -> bool:
    """Whether the queue table has ``name``; ``False`` without a database to ask (a
    system check runs without one: only queues declared in code count there)."""
    try:
        return bool(queue_rows().filter(name=name).exists())
    except Exception:  # no connection, no table yet, or database access not allowed here
        logger.debug("Could not look queue %s up in the queue table", name, exc_info=True)
        return False


registry.set_stored_queue_lookup(_stored_queue_exists)


def unknown_queue_names(names: Iterable[str]) -> list[str]:
    """Of ``names``, those that are neither declared in code nor rows."""
    wanted = list(names)
    known = {queue.name for queue in registry.all_queues()}
    known |= set(queue_rows().filter(name__in=wanted).values_list("name", flat=True))
    return [name for name in wanted if name not in known]


__all__ = [
    "QueueSync",
    "delete_queue",
    "delete_queue_async",
    "list_queues",
    "list_queues_async",
    "register_queue",
    "register_queue_async",
    "retrieve_queue",
    "retrieve_queue_async",
    "sync_code_queues",
    "unknown_queue_names",
    "update_queue",
]
