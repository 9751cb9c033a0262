"""Firing due schedules in batches: one transaction, and a handful of statements, for
many schedules.

A batch is one transaction: the SELECT of up to ``limit`` due schedules (locked, so
schedulers running at once take different ones), one compare-and-set UPDATE that moves
them all on, one INSERT of the runs of the schedules it moved, and one notification per
queue. What many schedules share is computed once per batch: the plan of each distinct
(cron, timezone, next fire time) and the run built for each distinct (workflow,
timezone, context, slot), of which each schedule's run is a copy with its own id, name
and queue.

A schedule that cannot fire (its cron, its workflow, its context, its queue) is reported
in the batch's result and the others fire; a database error that is not a lost
connection is raised as ``BatchFailed`` with the rows of the batch, so the caller can fire
them one by one and find the one at fault.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone

from django_durable import registry, signals
from django_durable.cron import Cron
from django_durable.db import NOTIFY_CHANNEL, exclusive_transaction, notify
from django_durable.engine import events
from django_durable.models import WorkflowRun, WorkflowSchedule
from django_durable.models.bulk import as_text, insert_ignoring_conflicts, prepared_row
from django_durable.models.due import Advance, DueSchedule, advance_due, select_due
from django_durable.registry import WorkflowInfo
from django_durable.schedules.fire import FirePlan, shared_plan, slot_run, workflow_named

logger = logging.getLogger(__name__)

_RUN_COLUMNS = [f.attname for f in WorkflowRun._meta.concrete_fields]
_ID, _SCHEDULE, _QUEUE = (
    _RUN_COLUMNS.index(name) for name in ("workflow_id", "schedule_name", "queue_name")
)


class PlannedFire(NamedTuple):
    """One schedule's fire, ready to commit (a tuple: bursts build thousands)."""

    row: DueSchedule
    """The schedule as selected."""
    slots: list[datetime]
    """The slots it enqueues, ascending (UTC)."""
    next_fire_at: datetime
    """Its next slot."""
    missed: bool
    """Whether due slots were left out."""
    queue_name: str
    """The queue of its runs."""
    runs: list[list[Any]]
    """Its run rows, prepared for the INSERT (one per slot)."""

    @property
    def run_ids(self) -> list[str]:
        return [str(run[_ID]) for run in self.runs]


class Planner:
    """Plans the fires of one batch at ``now`` (the instant its due schedules are judged
    at), computing each shared piece once: the slots of each distinct (cron, timezone,
    next fire time) once per tick (``fire.shared_plan``), the run of each distinct
    (workflow, timezone, context, slot) once per batch."""

    def __init__(self, using: str, *, now: datetime, cap: int, grace: timedelta) -> None:
        self.connection = connections[using]
        self.now, self.cap, self.grace = now, cap, grace
        self._infos: dict[tuple[str, str | None], WorkflowInfo] = {}
        self._crons: dict[tuple[str, str | None], Cron] = {}
        self._plans: dict[tuple[str, str | None, str, bool], FirePlan] = {}
        self._templates: dict[tuple[str, str | None, str | None, datetime], list[Any]] = {}
        self._ids: dict[datetime, str] = {}
        self._queues: set[str] = set()

    def fire_of(self, row: DueSchedule) -> PlannedFire:
        """The fire of one due schedule; raises what makes it unable to fire here."""
        info = self._infos.get((row.workflow_name, row.workflow_class_name))
        if info is None:
            info = workflow_named(row.schedule_name, row.workflow_name, row.workflow_class_name)
            self._infos[(row.workflow_name, row.workflow_class_name)] = info
        queue = row.queue_name or registry.INTERNAL_QUEUE_NAME
        if row.queue_name and row.queue_name not in self._queues:
            if not registry.queue_exists(row.queue_name):  # in the code or the queue table
                registry.get_queue(row.queue_name)  # undeclared: left to another scheduler
            self._queues.add(row.queue_name)
        plan_key = (row.schedule, row.cron_timezone, row.expected, row.automatic_backfill)
        fire_plan = self._plans.get(plan_key)
        cron = self._cron(row)
        if fire_plan is None:
            fire_plan = self._plans[plan_key] = shared_plan(
                cron, row.next_fire_at, self.now, row.automatic_backfill, self.cap, self.grace
            )
        runs = []
        for slot in fire_plan.slots:
            run = list(self._template(info, cron, row, slot))
            run[_ID] = f"sched-{row.schedule_name}-{self._slot_text(slot)}"
            run[_SCHEDULE], run[_QUEUE] = row.schedule_name, queue
            runs.append(run)
        return PlannedFire(
            row, list(fire_plan.slots), fire_plan.next_fire_at, fire_plan.missed, queue, runs
        )

    def _cron(self, row: DueSchedule) -> Cron:
        key = (row.schedule, row.cron_timezone)
        cron = self._crons.get(key)
        if cron is None:
            cron = self._crons[key] = Cron.parse(row.schedule, row.cron_timezone)
        return cron

    def _slot_text(self, slot: datetime) -> str:
        text = self._ids.get(slot)
        if text is None:  # the suffix of slot_run_id()
            text = self._ids[slot] = slot.astimezone(UTC).isoformat(timespec="seconds")
        return text

    def _template(
        self, info: WorkflowInfo, cron: Cron, row: DueSchedule, slot: datetime
    ) -> list[Any]:
        # The run depends on the schedule only through its workflow, the timezone that
        # ``scheduled_at`` is given in, and its context.
        key = (info.name, row.cron_timezone, row.context, slot)
        template = self._templates.get(key)
        if template is None:
            run = slot_run(
                info,
                cron=cron,
                slot=slot,
                context=None if row.context is None else json.loads(row.context),
                run_id="",
                schedule_name="",
                queue_name=None,
            )
            template = self._templates[key] = [
                as_text(value) for value in prepared_row(run, self.connection)
            ]
        return template


_FINISH_SQL = (
    "SELECT set_config('synchronous_commit', 'off', true), "
    "(SELECT count(pg_notify(%s, queue)) FROM jsonb_array_elements_text(%s::jsonb) AS queue)"
)


def finish(using: str, queues: list[str]) -> None:
    """The last statement of a batch: wake the workers of ``queues`` when it commits, and
    on PostgreSQL let its COMMIT return before its WAL is flushed (``synchronous_commit``
    off, this transaction only), both in one round trip.

    A fire can afford an asynchronous commit: the commit is visible at once, and
    PostgreSQL loses a recent one only in a server crash, and then as a whole, the run
    rows with the schedules' moved ``next_fire_at``, never one without the other. Those
    slots are then due again, and the next tick fires them under the same run ids; no
    later commit (a worker's claim of one of those runs) can survive the crash without
    them, because the WAL is flushed in order.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        for queue in queues:
            notify(using, queue)  # nothing to send on SQLite
        return
    with connection.cursor() as cursor:
        cursor.execute(_FINISH_SQL, [NOTIFY_CHANNEL, json.dumps(queues)])


def commit_fires(using: str, fires: list[PlannedFire]) -> list[PlannedFire]:
    """Inside the caller's transaction: move the schedules on (one compare-and-set) and
    insert the runs of those it moved (one INSERT that skips runs that exist, such as
    backfilled slots); the fires that took place."""
    if not fires:
        return []
    moved = advance_due(
        using,
        [
            Advance(
                item.row.key,
                item.row.expected,
                item.next_fire_at,
                item.slots[-1] if item.slots else None,
            )
            for item in fires
        ],
        timezone.now(),
    )
    won = [item for item in fires if item.row.key in moved]
    insert_ignoring_conflicts(using, WorkflowRun, [run for item in won for run in item.runs])
    finish(using, sorted({item.queue_name for item in won if item.runs}))
    _signal(using, won)
    return won


def _signal(using: str, won: list[PlannedFire]) -> None:
    if signals.workflow_enqueued.has_listeners(WorkflowRun):
        events.enqueued(
            [
                WorkflowRun(workflow_id=run_id, name=item.row.workflow_name, queue_name=queue)
                for item in won
                for run_id, queue in ((run_id, item.queue_name) for run_id in item.run_ids)
            ],
            using,
        )
    if signals.schedule_fired.has_listeners(WorkflowSchedule):
        for item in won:
            if item.slots:
                events.schedule_fired(
                    item.row.schedule_name,
                    item.slots,
                    item.run_ids,
                    using,
                    workflow_name=item.row.workflow_name,
                )
    for item in won:
        if item.missed:
            events.schedule_missed(
                item.row.schedule_name, item.row.workflow_name, item.row.next_fire_at
            )


class BatchFailed(Exception):
    """The database refused a batch (for a reason other than a lost connection); nothing
    of it was written. ``rows`` are the schedules it had selected."""

    def __init__(self, rows: list[DueSchedule], cause: DatabaseError) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.rows = rows
        self.cause = cause


@dataclass(frozen=True, kw_only=True)
class Batch:
    """What one batch did."""

    selected: int
    """Schedules it took (fewer than its limit: no more were due for it)."""
    fired: list[PlannedFire]
    """The fires that took place."""
    failed: list[tuple[DueSchedule, Exception]]
    """Schedules that could not fire, and why."""
    enqueued: int
    """Slots enqueued."""


def fire_batch(
    using: str,
    *,
    after: datetime,
    upto: datetime,
    workflow_names: list[str],
    skipped: list[tuple[Any, Any]],
    limit: int,
    cap: int,
    grace: timedelta,
) -> Batch:
    """Fire up to ``limit`` schedules due in ``(after, upto]`` (judged at ``upto``), in
    one transaction. Raises ``BatchFailed`` when the database refuses the batch, and lets
    ``OperationalError``/``InterfaceError`` (a lost connection, a lock timeout) through."""
    planner = Planner(using, now=upto, cap=cap, grace=grace)
    due: list[DueSchedule] = []
    failed: list[tuple[DueSchedule, Exception]] = []
    try:
        with exclusive_transaction(using):
            due = select_due(
                using,
                after=after,
                upto=upto,
                workflow_names=workflow_names,
                skipped=skipped,
                limit=limit,
            )
            fires = []
            for row in due:
                try:
                    fires.append(planner.fire_of(row))
                except Exception as exc:  # one row never stops the others
                    failed.append((row, exc))
            won = commit_fires(using, fires)
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError as exc:
        if not due:
            raise
        raise BatchFailed(due, exc) from exc
    log_fires(won, cap)
    enqueued = sum(len(item.slots) for item in won)
    return Batch(selected=len(due), fired=won, failed=failed, enqueued=enqueued)


def log_fires(won: list[PlannedFire], cap: int) -> None:
    """Log a batch's fires: one line per schedule at DEBUG, one for the batch at INFO, and
    a warning per schedule that left slots out."""
    debug = logger.isEnabledFor(logging.DEBUG)
    for item in won:
        if item.missed:
            logger.warning(
                "Schedule %s missed slots since %s (automatic backfill %s, cap %d); next at %s",
                item.row.schedule_name,
                item.row.next_fire_at.isoformat(),
                "on" if item.row.automatic_backfill else "off",
                cap,
                item.next_fire_at.isoformat(),
                extra={"action": "schedule_missed", "schedule": item.row.schedule_name},
            )
        if debug and item.slots:
            logger.debug(
                "Schedule %s fired %d slot(s): %s",
                item.row.schedule_name,
                len(item.slots),
                ", ".join(slot.isoformat() for slot in item.slots[:5])
                + (" ..." if len(item.slots) > 5 else ""),
                extra={"action": "schedule_fired", "schedule": item.row.schedule_name},
            )
    fired = [item for item in won if item.slots]
    if fired:
        names = ", ".join(item.row.schedule_name for item in fired[:3])
        logger.info(
            "Fired %d schedule(s), %d slot(s): %s%s",
            len(fired),
            sum(len(item.slots) for item in fired),
            names,
            " ..." if len(fired) > 3 else "",
            extra={"action": "schedules_fired", "schedules": len(fired)},
        )
