"""What one worker serves: the queues (declared in code, or rows of the queue table) with
the settings in force, re-read every second, and when to poll each of them."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from django_durable import registry
from django_durable.queue_store import queue_rows, settings_of
from django_durable.queues import INTERNAL_QUEUE_NAME, Queue


class QueueBoard:
    """The queues one worker serves, with the settings in force, and when to poll each.

    ``names=None`` serves every queue: those declared in code and every row (a queue
    registered at runtime is served from the next refresh). Rows are re-read at most every
    ``refresh`` seconds.
    """

    def __init__(
        self, names: Iterable[str] | None, *, default_interval: float, refresh: float = 1.0
    ) -> None:
        self.names = list(names) if names is not None else None
        self.default_interval = default_interval
        self.refresh = refresh
        self._queues: list[Any] = []
        self._read_at = float("-inf")
        self._polled: dict[str, float] = {}

    def queues(self, *, force: bool = False) -> list[Any]:
        """The served queues (re-read from the table when due, or when ``force``)."""
        clock = time.monotonic()
        if force or clock - self._read_at >= self.refresh:
            self._queues = self._read()
            self._read_at = clock
        return self._queues

    def _read(self) -> list[Any]:
        declared = {queue.name: queue for queue in registry.all_queues()}
        wanted = self.names
        rows = queue_rows() if wanted is None else queue_rows().filter(name__in=wanted)
        stored = {row.name: Queue.stored(row.name, settings_of(row)) for row in rows}
        names = set(declared) | set(stored) if wanted is None else set(wanted)
        names.add(INTERNAL_QUEUE_NAME)  # resumed, forked and recovered runs
        found = [stored.get(name) or declared.get(name) for name in sorted(names)]
        return [queue for queue in found if queue is not None]

    def interval(self, queue: Any) -> float:
        value = queue.polling_interval_sec
        return float(value) if value is not None else self.default_interval

    def to_claim(self, woken: bool) -> list[Any]:
        """The queues to claim from now: all of them after a wake-up (a notification, a
        run finishing), else those whose polling interval has passed."""
        clock = time.monotonic()
        due = [
            queue
            for queue in self.queues()
            if woken or clock - self._polled.get(queue.name, float("-inf")) >= self.interval(queue)
        ]
        for queue in due:
            self._polled[queue.name] = clock
        return due

    def next_poll_in(self) -> float:
        """Seconds until the next queue's polling interval has passed."""
        clock = time.monotonic()
        waits = [
            self._polled.get(queue.name, float("-inf")) + self.interval(queue) - clock
            for queue in self._queues
        ]
        return max(0.0, min(waits, default=self.default_interval))
