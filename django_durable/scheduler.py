"""The ``Scheduler`` loop: fire due schedules in batches, on time to the second.

No thread per schedule. A tick takes the due schedules in ``next_fire_at`` order in
bounded batches, each one transaction (``schedules.batch``); between batches it reads the
clock, fires first whatever came due meanwhile (a per-second schedule never waits behind
a burst of thousands), and checks for a stop request, so ``stop()`` takes effect within
one batch. Batches start small (the schedules due first fire within milliseconds) and
grow while a burst lasts, up to ``batch_size`` rows or about ``batch_seconds`` each; on
PostgreSQL helper threads fire batches of a burst too (``burst.BurstCrew``).

The loop keeps its connection between ticks whatever ``CONN_MAX_AGE`` says (checked
after an error or a long idle time), sleeps until the earliest ``next_fire_at`` or the
poll interval, and on PostgreSQL wakes at once when a schedule changes anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.utils import timezone

from django_durable import conf, registry
from django_durable.burst import BurstCrew
from django_durable.cron import Cron
from django_durable.db import SCHEDULE_CHANNEL, is_postgresql, listen
from django_durable.engine import events
from django_durable.exceptions import ConfigurationError, DurableError
from django_durable.models import WorkflowSchedule
from django_durable.models.due import EARLIEST, DueSchedule, earliest_due
from django_durable.schedules import sync_code_schedules
from django_durable.schedules.batch import BatchFailed, fire_batch

logger = logging.getLogger(__name__)

FIRST_BATCH = 16
"""Rows in the first batch of a tick: the schedules due first commit within milliseconds."""

REVIEW_SECONDS = 60.0
"""How often skipped schedules are retried and unknown workflows reported."""

IDLE_CHECK_SECONDS = 30.0
"""A connection idle this long is checked before it is used again."""


class Scheduler:
    """Fires the due schedules of the database this process uses.

    ``run()`` writes the code-defined schedules, then loops until ``stop()`` (or, with
    ``once=True``, returns after one tick). ``tick(now)`` fires what is due at ``now`` and
    is what tests drive with their own clock. A slot is on time until ``grace`` after it
    (default: twice the poll interval, at least a second, and longer while ticks are
    slow); older slots were missed and are enqueued only by schedules with automatic
    backfill, at most ``max_backfill`` (default ``DURABLE["MAX_BACKFILL"]``) per fire.
    A batch takes at most ``batch_size`` schedules, fewer when that would take longer
    than about ``batch_seconds``; on PostgreSQL, ``run()`` fires the batches of a burst on
    ``burst_connections`` connections at once.
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
        batch_size: int = 1000,
        batch_seconds: float = 0.025,
        burst_connections: int = 2,
    ) -> None:
        self.poll_interval = float(
            poll_interval if poll_interval is not None else conf.get("POLL_INTERVAL")
        )
        if self.poll_interval < 0:
            raise ConfigurationError(f"poll_interval must be >= 0, got {poll_interval!r}.")
        self.max_backfill = _count(
            "MAX_BACKFILL", max_backfill if max_backfill is not None else conf.get("MAX_BACKFILL")
        )
        if grace is not None and grace < 0:
            raise ConfigurationError(f"grace must be >= 0 seconds, got {grace!r}.")
        if not batch_seconds > 0:
            raise ConfigurationError(f"batch_seconds must be > 0, got {batch_seconds!r}.")
        self.grace = grace
        self.once = once
        self.listen = listen
        self.clock = clock
        self.batch_size = _count("batch_size", batch_size)
        self.batch_seconds = float(batch_seconds)
        self.burst_connections = _count("burst_connections", burst_connections)
        self.fired = 0
        self.batches = 0
        self._size = min(FIRST_BATCH, batch_size)
        self._last_tick_seconds = 0.0
        self._last_used = time.monotonic()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._listener: threading.Thread | None = None
        self._logged: set[tuple[str, str]] = set()
        self._skipped: dict[Any, tuple[Any, Any]] = {}
        self._next_review = 0.0
        self._lock = threading.Lock()
        self._crew: BurstCrew | None = None

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
        if self.burst_connections > 1 and not self.once and is_postgresql(alias):
            self._crew = BurstCrew(self.burst_connections - 1)
        logger.info("Scheduler started", extra={"action": "scheduler_started"})
        backoff = max(self.poll_interval, 0.1)
        failures = 0
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    self._check_connection()
                    self.tick()
                    wait = self._seconds_to_next()
                    backoff, failures = max(self.poll_interval, 0.1), 0
                except DatabaseError as exc:
                    failures += 1
                    # A lost connection is re-opened at once; a database that stays
                    # unavailable is retried with a growing delay.
                    wait = 0.0 if failures == 1 else backoff
                    if failures > 1:
                        backoff = min(backoff * 2, 30.0)
                    logger.warning(
                        "Database unavailable (%s); retrying in %.1fs",
                        exc,
                        wait,
                        extra={"action": "database_unavailable"},
                    )
                    connections[alias].close()
                if self.once:
                    break
                self._wake.wait(wait)
        finally:
            self._stopping.set()
            if self._crew is not None:
                self._crew.close()
                self._crew = None
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
        """Stop after the current batch."""
        self._stopping.set()
        self._wake.set()

    def tick(self, now: datetime | None = None) -> int:
        """Fire every schedule due at ``now`` (default: the clock, read again between
        batches); slots enqueued."""
        fixed = now is not None
        start = now if now is not None else self.clock()
        began = time.monotonic()
        grace = self._grace()
        if began >= self._next_review:
            self._review(start)
        names = registry.workflow_names()
        self._size = min(FIRST_BATCH, self.batch_size)
        enqueued, more = self._fire(EARLIEST, start, names, grace)
        fresh_from, crew = start, None
        if more and self._crew is not None and not self._stopping.is_set():
            # A burst: the helpers fire batches of it too, each on its own connection.
            crew = self._crew
            crew.begin(lambda: self._fire(EARLIEST, start, names, grace), self._stopping)
        try:
            while more and not self._stopping.is_set() and not (crew and crew.finished):
                if not fixed:
                    # What came due since the tick began goes before the rest of a burst.
                    current = self.clock()
                    if current > fresh_from:
                        enqueued += self._drain(fresh_from, current, names, grace)
                        fresh_from = current
                if self._stopping.is_set():
                    break
                count, more = self._fire(EARLIEST, start, names, grace)
                enqueued += count
        finally:
            if crew is not None:
                enqueued += crew.end()
        self._last_tick_seconds = time.monotonic() - began
        self._last_used = time.monotonic()
        return enqueued

    # -- batches -----------------------------------------------------------------------

    def _drain(self, after: datetime, upto: datetime, names: list[str], grace: timedelta) -> int:
        enqueued, more = 0, True
        while more and not self._stopping.is_set():
            count, more = self._fire(after, upto, names, grace)
            enqueued += count
        return enqueued

    def _fire(
        self, after: datetime, upto: datetime, names: list[str], grace: timedelta
    ) -> tuple[int, bool]:
        """One batch of the schedules due in ``(after, upto]``: (slots enqueued, whether
        more may be due)."""
        limit = self._size
        started = time.monotonic()
        try:
            batch = self._batch(after, upto, names, grace, limit)
        except BatchFailed as failure:
            return self._one_by_one(failure, after, upto, names, grace), True
        for row, exc in batch.failed:
            self._skip(row, _reason(exc))
        if batch.selected >= limit:
            self._grow(batch.selected, time.monotonic() - started)
        return batch.enqueued, batch.selected >= limit

    def _batch(
        self, after: datetime, upto: datetime, names: list[str], grace: timedelta, limit: int
    ) -> Any:
        batch = fire_batch(
            conf.database_alias(),
            after=after,
            upto=upto,
            workflow_names=names,
            skipped=self._skipped_keys(),
            limit=limit,
            cap=self.max_backfill,
            grace=grace,
        )
        with self._lock:
            self.batches += 1
            self.fired += batch.enqueued
        return batch

    def _one_by_one(
        self,
        failure: BatchFailed,
        after: datetime,
        upto: datetime,
        names: list[str],
        grace: timedelta,
    ) -> int:
        """The database refused a batch: fire its schedules one per transaction, skipping
        the ones it refuses."""
        if len(failure.rows) == 1:
            self._skip(failure.rows[0], _reason(failure.cause))
            return 0
        enqueued = 0
        for _ in failure.rows:
            if self._stopping.is_set():
                break
            try:
                batch = self._batch(after, upto, names, grace, 1)
            except BatchFailed as single:
                self._skip(single.rows[0], _reason(single.cause))
                continue
            for row, exc in batch.failed:
                self._skip(row, _reason(exc))
            if not batch.selected:
                break
            enqueued += batch.enqueued
        return enqueued

    def _skipped_keys(self) -> list[tuple[Any, Any]]:
        with self._lock:
            return list(self._skipped.values())

    def _grow(self, rows: int, seconds: float) -> None:
        """Size the next batch of a burst to take about ``batch_seconds``."""
        target = self.batch_size if seconds <= 0 else int(rows * self.batch_seconds / seconds)
        self._size = max(FIRST_BATCH, min(self.batch_size, target, self._size * 4))

    # -- internals ---------------------------------------------------------------------

    def _grace(self) -> timedelta:
        if self.grace is not None:
            return timedelta(seconds=self.grace)
        seconds = max(1.0, 2 * self.poll_interval, 2 * self._last_tick_seconds)
        return timedelta(seconds=seconds)

    def _seconds_to_next(self) -> float:
        """Until the earliest schedule this process can fire is due, at most the poll
        interval."""
        earliest = earliest_due(
            conf.database_alias(),
            workflow_names=registry.workflow_names(),
            skipped=self._skipped_keys(),
        )
        if earliest is None:
            return self.poll_interval
        until = (earliest - self.clock()).total_seconds() + 0.001
        return max(0.0, min(self.poll_interval, until))

    def _check_connection(self) -> None:
        """Close the connection if it failed or idled long and no longer answers."""
        connection = connections[conf.database_alias()]
        idle = time.monotonic() - self._last_used > IDLE_CHECK_SECONDS
        if connection.connection is not None and (connection.errors_occurred or idle):
            if not connection.is_usable():
                connection.close()
            connection.errors_occurred = False

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

    def _skip(self, row: DueSchedule, reason: str) -> None:
        """Leave a schedule that cannot fire here until it changes or the next review
        (logged once per reason)."""
        with self._lock:
            self._skipped[row.key] = (row.key, row.version)
        self._log_skipped(row.schedule_name, reason, row.workflow_name)

    def _log_skipped(self, name: str, reason: str, workflow_name: str = "") -> None:
        events.schedule_skipped(name, workflow_name, reason)
        key = (name, reason)
        with self._lock:
            first = key not in self._logged
            self._logged.add(key)
        if first:
            logger.error(
                "Schedule %s cannot fire here and was skipped: %s",
                name,
                reason,
                extra={"action": "schedule_skipped", "schedule": name},
            )

    def _review(self, now: datetime) -> None:
        """Every minute: retry skipped schedules, give a next fire time to active rows
        written without one, and report due ones whose workflow is not registered here
        (another scheduler that knows it may fire them)."""
        self._next_review = time.monotonic() + REVIEW_SECONDS
        with self._lock:
            self._skipped.clear()
        known = registry.workflow_names()
        rows = WorkflowSchedule.objects.using(conf.database_alias())
        # Only the columns needed: a row's other values (its context) may be unreadable.
        unscheduled = rows.active().filter(next_fire_at__isnull=True)
        for row in unscheduled.only("pk", "schedule_name", "schedule", "cron_timezone"):
            # Written without a next fire time (e.g. by a raw ORM create): schedule it.
            try:
                cron = Cron.parse(row.schedule, row.cron_timezone or None)
                row.advance(expected=None, next_fire_at=cron.next_after(now), last_fired_at=None)
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:  # one row never stops the others
                self._log_skipped(row.schedule_name, _reason(exc))
        for name, workflow in (
            rows.due(now)
            .exclude(workflow_name__in=known)
            .values_list("schedule_name", "workflow_name")
        ):
            self._log_skipped(
                name,
                f"workflow {workflow!r} is not registered in this process "
                f"(removed from the code?)",
                workflow,
            )


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}.")
    return value


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DurableError) else f"{type(exc).__name__}: {exc}"
