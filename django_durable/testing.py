"""Helpers for testing code that uses django_durable."""

from __future__ import annotations

from collections.abc import Iterable

from django_durable import conf
from django_durable.worker import Worker


def run_until_idle(*, queues: Iterable[str] | None = None, concurrency: int = 4) -> int:
    """Execute the enqueued runs this process can execute until none is left; the count.

    Runs that those runs enqueue are executed too, and runs held back by a queue's
    concurrency or rate limit are waited for. The runs execute under this process's
    executor id, on a worker's threads, and this call returns once they have all finished.
    ``queues`` limits the queues served (the internal queue, which carries resumed and
    forked runs, is always served).
    """
    worker = Worker(
        queues=queues,
        concurrency=concurrency,
        executor_id=conf.executor_id(),
        batch=True,
        listen=False,
    )
    return worker.run()
