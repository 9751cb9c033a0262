"""The ``Scheduler`` loop: fire due schedules, one indexed query per tick.

No thread per schedule. Each tick selects the active schedules whose ``next_fire_at`` has
come and fires each in its own short transaction (see ``schedules.fire``); the loop then
sleeps until the earliest ``next_fire_at`` or the poll interval, and on PostgreSQL wakes
at once when a schedule is created, edited or resumed anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from django_durable import conf, registry
from django_durable.db import SCHEDULE_CHANNEL, is_postgresql, listen
from django_durable.engine import events
from django_durable.exceptions import ConfigurationError, DurableError
from django_durable.models import WorkflowSchedule, WorkflowScheduleQuerySet
from django_durable.schedules import sync_code_schedules
from django_durable.schedules.fire import fire

logger = logging.getLogger(__name__)


class Scheduler:
    """Fires the due schedules of the database this process uses.

    ``run()`` writes the code-defined schedules, then loops until ``stop()`` (or, with
    ``once=True``, returns after one tick). ``tick(now)`` fires what is due at ``now`` and
    is what tests drive with their own clock. A slot is on time until ``grace`` after it
    (default: twice the poll interval, at least a second, and longer while ticks are
    slow); older slots were missed and are enqueued only by schedules with automatic
    backfill, at most ``max_backfill`` (default ``DURABLE["MAX_BACKFILL"]``) per fire.
    """

    def __init__(
        self,
        *,
        poll_interval: float | None = None,
        max_backfill: int | None = None,
        grace: float | None = None,
        once: bool = False,
        listen: bool = True,
        clock: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.poll_interval = float(
            poll_interval if poll_interval is not None else conf.get("POLL_INTERVAL")
        )
        if self.poll_interval < 0:
            raise ConfigurationError(f"poll_interval must be >= 0, got {poll_interval!r}.")
        cap = max_backfill if max_backfill is not None else conf.get("MAX_BACKFILL")
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ConfigurationError(f"MAX_BACKFILL must be an int >= 1, got {cap!r}.")
        self.max_backfill = cap
        if grace is not None and grace < 0:
            raise ConfigurationError(f"grace must be >= 0 seconds, got {grace!r}.")
        self.grace = grace
        self.once = once
        self.listen = listen
        self.clock = clock
        self.fired = 0
        self._last_tick_seconds = 0.0
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._listener: threading.Thread | None = None
        self._logged: set[tuple[str, str]] = set()
        self._skipped: set[object] = set()
        self._next_review = 0.0

    # -- public ------------------------------------------------------------------------

    def run(self) -> int:
        """Write code-defined schedules, then fire due schedules until stopped; the number
        of slots enqueued."""
        self._sync_code_schedules()
        alias = conf.database_alias()
        if self.listen and not self.once and is_postgresql(alias):
            self._listener = threading.Thread(
                target=listen,
                args=(alias, SCHEDULE_CHANNEL, self._wake, self._stopping),
                name="durable-scheduler-listen",
                daemon=True,
            )
            self._listener.start()
        logger.info("Scheduler started", extra={"action": "scheduler_started"})
        backoff = max(self.poll_interval, 0.1)
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    self.tick()
                    wait = self._seconds_to_next()
                    backoff = max(self.poll_interval, 0.1)
                except DatabaseError as exc:
                    logger.warning(
                        "Database unavailable (%s); retrying in %.1fs",
                        exc,
                        backoff,
                        extra={"action": "database_unavailable"},
                    )
                    connections.close_all()
                    wait, backoff = backoff, min(backoff * 2, 30.0)
                finally:
                    close_old_connections()
                if self.once:
                    break
                self._wake.wait(wait)
        finally:
            self._stopping.set()
            if self._listener is not None:
                self._listener.join(5)
            connections.close_all()
            logger.info(
                "Scheduler stopped (%d slots fired)",
                self.fired,
                extra={"action": "scheduler_stopped"},
            )
        return self.fired

    def stop(self) -> None:
        """Stop after the current tick."""
        self._stopping.set()
        self._wake.set()

    def tick(self, now: datetime | None = None) -> int:
        """Fire every schedule due at ``now`` (default: the clock); slots enqueued."""
        now = now if now is not None else self.clock()
        started = time.monotonic()
        grace = self._grace()
        if started >= self._next_review:
            self._review(now)
        due = list(self._runnable().due(now).order_by("next_fire_at"))
        enqueued = 0
        for row in due:
            try:
                slots = fire(row, now, cap=self.max_backfill, grace=grace)
            except DurableError as exc:
                self._skip(row, str(exc))
                continue
            if slots:
                enqueued += len(slots)
        self.fired += enqueued
        self._last_tick_seconds = time.monotonic() - started
        return enqueued

    # -- internals ---------------------------------------------------------------------

    def _grace(self) -> timedelta:
        if self.grace is not None:
            return timedelta(seconds=self.grace)
        seconds = max(1.0, 2 * self.poll_interval, 2 * self._last_tick_seconds)
        return timedelta(seconds=seconds)

    def _seconds_to_next(self) -> float:
        """Until the earliest active schedule is due, at most the poll interval."""
        earliest = (
            self._runnable()
            .active()
            .filter(next_fire_at__isnull=False)
            .order_by("next_fire_at")
            .values_list("next_fire_at", flat=True)
            .first()
        )
        if earliest is None:
            return self.poll_interval
        until = (earliest - self.clock()).total_seconds() + 0.001
        return max(0.0, min(self.poll_interval, until))

    def _sync_code_schedules(self) -> None:
        delay = max(self.poll_interval, 0.1)
        while not self._stopping.is_set():
            try:
                sync_code_schedules(self.clock())
                return
            except DatabaseError as exc:
                logger.warning(
                    "Could not write the code-defined schedules (%s); retrying in %.1fs",
                    exc,
                    delay,
                    extra={"action": "database_unavailable"},
                )
                connections.close_all()
                self._stopping.wait(delay)
                delay = min(delay * 2, 30.0)

    def _runnable(self) -> WorkflowScheduleQuerySet:
        """Schedules this process can fire: its workflow is registered here, and it was
        not skipped since the last review."""
        rows = WorkflowSchedule.objects.using(conf.database_alias()).filter(
            workflow_name__in=registry.workflow_names()
        )
        return rows.exclude(pk__in=list(self._skipped)) if self._skipped else rows

    def _skip(self, row: WorkflowSchedule, reason: str) -> None:
        """Leave a schedule that cannot fire here to other schedulers (logged once)."""
        self._skipped.add(row.pk)
        events.schedule_skipped(row.schedule_name, row.workflow_name, reason)
        key = (row.schedule_name, reason)
        if key not in self._logged:
            self._logged.add(key)
            logger.error(
                "Schedule %s cannot fire here and was skipped: %s",
                row.schedule_name,
                reason,
                extra={"action": "schedule_skipped", "schedule": row.schedule_name},
            )

    def _review(self, now: datetime) -> None:
        """Every minute: retry skipped schedules and report due ones whose workflow is
        not registered in this process (another scheduler that knows it may fire them)."""
        self._next_review = time.monotonic() + 60.0
        self._skipped.clear()
        known = registry.workflow_names()
        rows = WorkflowSchedule.objects.using(conf.database_alias())
        for row in rows.active().filter(next_fire_at__isnull=True):
            # Written without a next fire time (e.g. by a raw ORM create): schedule it.
            try:
                next_fire_at = row.definition().cron().next_after(now)
            except DurableError as exc:
                self._skip(row, str(exc))
                continue
            row.advance(expected=None, next_fire_at=next_fire_at, last_fired_at=None)
        for row in rows.due(now).exclude(workflow_name__in=known):
            self._skip(
                row,
                f"workflow {row.workflow_name!r} is not registered in this process "
                f"(removed from the code?)",
            )
