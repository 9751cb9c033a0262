"""Helpers of the scheduler loop: threads that fire the batches of a burst alongside it.

A burst of thousands of schedules due at one instant is fired in batches; one connection
alternates between building a batch (Python) and waiting for the database to write it.
On PostgreSQL, where each batch locks different rows (``FOR UPDATE SKIP LOCKED``), a few
connections firing batches at once keep both busy: the scheduler's own thread and these
helpers, each with its own connection, kept between bursts. They exist only while the
loop runs (``Scheduler.run``) and stop with it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from django.db import DatabaseError, connections

FireOne = Callable[[], tuple[int, bool]]
"""Fire one batch of the burst: (slots enqueued, whether more may be due)."""


class _Helper(threading.Thread):
    def __init__(self, number: int) -> None:
        super().__init__(name=f"durable-scheduler-burst-{number}", daemon=True)
        self.jobs: queue.SimpleQueue[tuple[FireOne, threading.Event, threading.Event] | None]
        self.jobs = queue.SimpleQueue()
        self.idle = threading.Event()
        self.idle.set()
        self.count = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                fire_one, finished, stopping = job
                self.count, self.error = 0, None
                try:
                    while not finished.is_set() and not stopping.is_set():
                        count, more = fire_one()
                        self.count += count
                        if not more:
                            finished.set()
                except BaseException as exc:  # handed to the scheduler's thread
                    if isinstance(exc, DatabaseError):
                        connections.close_all()  # the next burst opens a fresh one
                    self.error = exc
                    finished.set()
                finally:
                    self.idle.set()
        finally:
            connections.close_all()


class BurstCrew:
    """``helpers`` threads that fire batches of the current burst until it is over."""

    def __init__(self, helpers: int) -> None:
        self._helpers = [_Helper(number + 1) for number in range(helpers)]
        self._finished = threading.Event()
        for helper in self._helpers:
            helper.start()

    @property
    def finished(self) -> bool:
        """Whether a helper found the burst over (or failed)."""
        return self._finished.is_set()

    def begin(self, fire_one: FireOne, stopping: threading.Event) -> None:
        """Start firing a burst with ``fire_one`` on every helper."""
        self._finished = threading.Event()
        for helper in self._helpers:
            helper.idle.clear()
            helper.jobs.put((fire_one, self._finished, stopping))

    def end(self) -> int:
        """Wait until every helper has committed its last batch; the slots they enqueued.
        Raises what a helper raised."""
        self._finished.set()
        for helper in self._helpers:
            helper.idle.wait()
        for helper in self._helpers:
            if helper.error is not None:
                raise helper.error
        return sum(helper.count for helper in self._helpers)

    def close(self) -> None:
        """Stop the threads (after their current batch); they close their connections."""
        for helper in self._helpers:
            helper.jobs.put(None)
        for helper in self._helpers:
            helper.join(10)
