"""When the scheduler's runs become visible to another connection: the observer of
``bench/scheduler_scale.py``.

It holds its own PostgreSQL connection (autocommit, so each query sees what is committed
when it starts) and listens on the channel on which every batch of the scheduler notifies
at commit. Each notification, or every ``poll`` seconds without one, it looks:

- at the per-second schedule's runs it has not seen yet (an indexed query: its partial
  schedule index, ids that sort by slot): each is stamped with the time the query
  started, which follows its commit by the notification's delivery;
- at how many runs of the current per-minute slot are visible, at most every
  ``count_every`` seconds while a burst is being committed: the time at which the count
  reaches a fraction of the schedules is when that fraction of the burst was committed,
  to within ``count_every``. It counts the runs of each committing transaction (a batch)
  once, by its transaction id (``xmin``), among the runs created less than ``margin``
  seconds before the newest one it has seen (the run table's ``created_at`` index): a
  batch's runs are built at most a batch's duration before it commits, so an older batch
  that commits late is still found, and a poll reads a fraction of a second of runs, not
  the whole burst.

The scheduler's own timestamps (``created_at``) play no part: a run counts from the
moment another connection can read it.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

CHANNEL = "django_durable"
SECOND_NAME = "second"
MINUTE_PREFIX = "minute-"


@dataclass
class Seen:
    """What the observer saw."""

    second: dict[datetime, float] = field(default_factory=dict)
    """Slot of the per-second schedule -> when its run was first visible (epoch seconds)."""
    minute: dict[datetime, list[tuple[float, int]]] = field(default_factory=dict)
    """Per-minute slot -> (time, runs of that slot visible then), ascending."""
    polls: int = 0
    """Queries made."""


class Observer(threading.Thread):
    def __init__(
        self,
        dsn: str,
        dbname: str,
        *,
        minute_schedules: int,
        per_second: bool,
        poll: float = 0.1,
        count_every: float = 0.05,
        margin: float = 0.5,
    ) -> None:
        super().__init__(name="observer", daemon=True)
        self.conn = psycopg.connect(dsn, dbname=dbname, autocommit=True)
        self.minute_schedules = minute_schedules
        self.per_second = per_second
        self.poll = poll
        self.count_every = count_every
        self.margin = timedelta(seconds=margin)
        self._newest: dict[datetime, datetime] = {}
        self._batches: dict[datetime, dict[str, int]] = {}
        self.seen = Seen()
        self.stopping = threading.Event()
        self._last_id = ""
        self._last_count = 0.0
        self.conn.execute(f"LISTEN {CHANNEL}")

    def run(self) -> None:
        while not self.stopping.is_set():
            for _ in self.conn.notifies(timeout=self.poll, stop_after=1):
                pass
            self.look()
        self.conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)

    def look(self) -> None:
        if self.per_second:
            self._look_second()
        now = time.time()
        slot = datetime.fromtimestamp(math.floor(now / 60) * 60, UTC)
        counts = self.seen.minute.get(slot)
        done = counts is not None and counts[-1][1] >= self.minute_schedules
        if self.minute_schedules and not done and now - self._last_count >= self.count_every:
            self._count(slot)

    def _look_second(self) -> None:
        started = time.time()
        rows = self.conn.execute(
            "SELECT workflow_id FROM django_durable_workflowrun "
            "WHERE schedule_name = %s AND workflow_id > %s ORDER BY workflow_id",
            [SECOND_NAME, self._last_id],
        ).fetchall()
        self.seen.polls += 1
        prefix = len(f"sched-{SECOND_NAME}-")
        for (run_id,) in rows:
            self.seen.second.setdefault(datetime.fromisoformat(run_id[prefix:]), started)
            self._last_id = max(self._last_id, run_id)

    def _count(self, slot: datetime) -> None:
        started = self._last_count = time.time()
        suffix = slot.isoformat(timespec="seconds")
        after = self._newest.get(slot, slot) - self.margin
        rows = self.conn.execute(
            "SELECT xmin::text, count(*), max(created_at) FROM django_durable_workflowrun "
            "WHERE created_at > %s AND workflow_id LIKE %s GROUP BY 1",
            [after, f"sched-{MINUTE_PREFIX}%-{suffix}"],
        ).fetchall()
        self.seen.polls += 1
        batches = self._batches.setdefault(slot, {})
        for xid, count, newest in rows:
            batches.setdefault(xid, int(count))
            self._newest[slot] = max(self._newest.get(slot, newest), newest)
        self.seen.minute.setdefault(slot, []).append((started, sum(batches.values())))


def burst_lags(counts: list[tuple[float, int]], slot: datetime, total: int) -> dict[str, float]:
    """Seconds after ``slot`` at which 50 %, 99 % and all of ``total`` runs were visible
    (``nan`` if never)."""
    result = {}
    for label, share in (("p50", 0.5), ("p99", 0.99), ("all", 1.0)):
        needed = math.ceil(total * share)
        at = next((t for t, count in counts if count >= needed), math.nan)
        result[label] = at - slot.timestamp()
    return result
