"""When the scheduler's runs become visible to another connection: the observer of
``bench/scheduler_scale.py``.

It holds its own PostgreSQL connection (autocommit, so each query sees what is committed
when it starts) and listens on the channel on which every batch of the scheduler notifies
at commit. Each notification, or every ``poll`` seconds without one, it looks:

- at the per-second schedule's runs it has not seen yet (an indexed query: its partial
  schedule index, ids that sort by slot): each is stamped with the time the query
  started, which follows its commit by the notification's delivery;
- at how many runs of the current per-minute slot are visible (a count over the run
  table's ``created_at`` index), at most every ``count_every`` seconds while a burst is
  being committed: the time at which the count reaches a fraction of the schedules is
  when that fraction of the burst was committed, to within ``count_every``.

  With one scheduler (``incremental``) it counts only the runs created after the newest
  one it has seen: that scheduler's batches are sequential, and the runs of a batch are
  built after the previous batch committed, so a run created earlier than a visible one
  is visible too. The count then costs the size of one batch, not of the burst so far.

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
        count_every: float = 0.02,
        incremental: bool = False,
    ) -> None:
        super().__init__(name="observer", daemon=True)
        self.conn = psycopg.connect(dsn, dbname=dbname, autocommit=True)
        self.minute_schedules = minute_schedules
        self.per_second = per_second
        self.poll = poll
        self.count_every = count_every
        self.incremental = incremental
        self._newest: dict[datetime, datetime] = {}
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
        after = self._newest.get(slot, slot - timedelta(seconds=1))
        count, newest = self.conn.execute(
            "SELECT count(*), max(created_at) FROM django_durable_workflowrun "
            "WHERE created_at > %s AND workflow_id LIKE %s",
            [after, f"sched-{MINUTE_PREFIX}%-{suffix}"],
        ).fetchone() or (0, None)
        self.seen.polls += 1
        counts = self.seen.minute.setdefault(slot, [])
        if self.incremental:
            if newest is not None:
                self._newest[slot] = newest
            count += counts[-1][1] if counts else 0
        counts.append((started, int(count)))


def burst_lags(counts: list[tuple[float, int]], slot: datetime, total: int) -> dict[str, float]:
    """Seconds after ``slot`` at which 50 %, 99 % and all of ``total`` runs were visible
    (``nan`` if never)."""
    result = {}
    for label, share in (("p50", 0.5), ("p99", 0.99), ("all", 1.0)):
        needed = math.ceil(total * share)
        at = next((t for t, count in counts if count >= needed), math.nan)
        result[label] = at - slot.timestamp()
    return result
