"""Retention: delete finished runs (and their steps) older than a cutoff, in batches.

A run is prunable when all of these hold:

- its status is final (``SUCCESS``, ``ERROR``, ``CANCELLED``,
  ``MAX_RECOVERY_ATTEMPTS_EXCEEDED``); ``ENQUEUED`` and ``PENDING`` runs are never deleted;
- it finished before the cutoff (``completed_at``, or ``created_at`` when it has no
  completion time);
- it is not the child of a parent that may still read it: a run whose parent run still
  exists is kept while that parent is in flight or finished after the cutoff. A parent's
  replay (after a crash, a resume or a fork) may read its children's runs, so a child goes
  only once its parent is gone or old enough to be pruned itself.

Each batch is its own short transaction: its runs are selected and locked (``FOR UPDATE
SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), then their steps, messages,
events and stream entries, and the runs are deleted with one statement each. A resume
that races a prune either wins (the run is no longer finished and is not deleted) or
finds the run gone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from django.db.models import Count, Exists, Model, OuterRef, Q
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, pre_delete

from django_durable import conf
from django_durable.db import exclusive_transaction
from django_durable.models import (
    FINISHED,
    IN_FLIGHT,
    StepOutput,
    StreamEntry,
    WorkflowEvent,
    WorkflowMessage,
    WorkflowRun,
    WorkflowRunQuerySet,
)

logger = logging.getLogger(__name__)

DEPENDENTS: tuple[tuple[type[Model], str], ...] = (
    (WorkflowMessage, "destination_id"),
    (WorkflowEvent, "run_id"),
    (StreamEntry, "run_id"),
)
"""Rows of a run other than its steps, deleted with it: (model, column of the run id)."""

PRUNABLE_STATUSES: tuple[str, ...] = tuple(str(status) for status in FINISHED)
"""The statuses ``prune_runs`` may delete: every final status."""


@dataclass(frozen=True, kw_only=True)
class PruneResult:
    """What a prune deleted, or on a dry run what it would delete."""

    cutoff: datetime
    """Runs that finished before this instant were eligible."""
    dry_run: bool
    """Whether nothing was deleted (the counts are what would be)."""
    runs_by_status: Mapping[str, int] = field(default_factory=dict)
    """Runs deleted per status (only statuses with at least one run)."""
    steps: int = 0
    """Step rows deleted with those runs."""
    batches: int = 0
    """Transactions that deleted something (0 on a dry run)."""

    @property
    def runs(self) -> int:
        """Runs deleted in all."""
        return sum(self.runs_by_status.values())


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _check(
    older_than: timedelta, now: datetime, statuses: list[str] | None, batch_size: int
) -> None:
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise ValueError(f"older_than must be a positive timedelta, got {older_than!r}.")
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    if statuses is not None:
        wrong = [status for status in statuses if status not in PRUNABLE_STATUSES]
        if wrong:
            raise ValueError(
                f"Cannot prune runs with status {', '.join(map(repr, wrong))}: only finished "
                f"runs are pruned ({', '.join(PRUNABLE_STATUSES)})."
            )


def prunable(
    cutoff: datetime,
    *,
    statuses: str | Iterable[str] | None = None,
    workflow: str | Iterable[str] | None = None,
) -> WorkflowRunQuerySet:
    """The runs ``prune_runs`` would delete for ``cutoff`` (see the module's rules)."""
    wanted = _as_list(statuses)
    runs = WorkflowRun.objects.using(conf.database_alias())
    # created_at <= completed_at, so the created_at bound only narrows the scan (an index
    # serves it); the finishing time decides.
    qs = (
        runs.filter(status__in=wanted if wanted is not None else PRUNABLE_STATUSES)
        .filter(created_at__lt=cutoff)
        .alias(finished_at=Coalesce("completed_at", "created_at"))
        .filter(finished_at__lt=cutoff)
    )
    names = _as_list(workflow)
    if names is not None:
        qs = qs.filter(name__in=names)
    live_parent = (
        runs.filter(pk=OuterRef("parent_id"))
        .alias(finished_at=Coalesce("completed_at", "created_at"))
        .filter(Q(status__in=IN_FLIGHT) | Q(finished_at__gte=cutoff))
    )
    return qs.filter(Q(parent_id__isnull=True) | ~Exists(live_parent))


def _plain_delete_is_safe() -> bool:
    """Whether runs and steps can be deleted with one ``DELETE`` each.

    Django's collector would first load every run to cascade to its steps (the foreign
    key's ``CASCADE`` is emulated by Django, not declared in the database). That is only
    needed when something else depends on the rows: another model's foreign key to
    ``WorkflowRun`` or delete signal receivers; then the collector is used.
    """
    own = {StepOutput, *(model for model, _ in DEPENDENTS)}
    for model in (WorkflowRun, *own):
        if pre_delete.has_listeners(model) or post_delete.has_listeners(model):
            return False
    others = [rel for rel in WorkflowRun._meta.related_objects if rel.related_model not in own]
    return not others and not WorkflowRun._meta.private_fields


def _delete_batch(ids: list[str], alias: str, plain: bool) -> int:
    """Delete the runs ``ids`` and their steps (inside the caller's transaction); the number
    of steps deleted."""
    runs = WorkflowRun.objects.using(alias).filter(pk__in=ids)
    steps = StepOutput.objects.using(alias).filter(run_id__in=ids)
    if plain:
        deleted_steps = steps._raw_delete(alias)
        for model, column in DEPENDENTS:
            model._default_manager.using(alias).filter(**{f"{column}__in": ids})._raw_delete(alias)
        runs._raw_delete(alias)
        return deleted_steps
    _, per_model = runs.delete()
    return per_model.get(StepOutput._meta.label, 0)


def prune_runs(
    older_than: timedelta,
    *,
    now: datetime,
    statuses: str | Iterable[str] | None = None,
    workflow: str | Iterable[str] | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
) -> PruneResult:
    """Delete finished runs that finished more than ``older_than`` before ``now``, with
    their steps, ``batch_size`` runs per transaction, oldest first.

    ``statuses`` (final statuses only) and ``workflow`` (workflow names) narrow the runs;
    each is a str or a list. A child run whose parent is in flight or finished after the
    cutoff is kept. With ``dry_run`` nothing is deleted and the result holds the counts
    that would be. Bad arguments raise ``ValueError`` before anything is read or written.
    """
    wanted = _as_list(statuses)
    _check(older_than, now, wanted, batch_size)
    try:
        cutoff = now - older_than
    except OverflowError:
        raise ValueError(f"older_than {older_than!r} reaches before the year 1.") from None
    eligible = prunable(cutoff, statuses=wanted, workflow=workflow)
    alias = conf.database_alias()
    if dry_run:
        counts = {
            row["status"]: row["n"]
            for row in eligible.order_by().values("status").annotate(n=Count("pk"))
        }
        steps = StepOutput.objects.using(alias).filter(run__in=eligible.values("pk")).count()
        return PruneResult(
            cutoff=cutoff,
            dry_run=True,
            runs_by_status=MappingProxyType(dict(sorted(counts.items()))),
            steps=steps,
        )
    plain = _plain_delete_is_safe()
    by_status: Counter[str] = Counter()
    steps_deleted = batches = 0
    while True:
        with exclusive_transaction(alias):
            batch = list(
                eligible.select_for_update(skip_locked=True)
                .order_by("created_at", "pk")
                .values_list("pk", "status")[:batch_size]
            )
            if batch:
                steps_deleted += _delete_batch([pk for pk, _ in batch], alias, plain)
        if not batch:
            break
        batches += 1
        by_status.update(status for _, status in batch)
        logger.debug(
            "Pruned a batch of %d run(s)", len(batch), extra={"action": "runs_pruned_batch"}
        )
        if len(batch) < batch_size:
            break
    result = PruneResult(
        cutoff=cutoff,
        dry_run=False,
        runs_by_status=MappingProxyType(dict(sorted(by_status.items()))),
        steps=steps_deleted,
        batches=batches,
    )
    logger.info(
        "Pruned %d run(s) and %d step(s) finished before %s in %d batch(es)",
        result.runs,
        result.steps,
        cutoff.isoformat(),
        batches,
        extra={"action": "runs_pruned", "runs": result.runs, "steps": result.steps},
    )
    return result
