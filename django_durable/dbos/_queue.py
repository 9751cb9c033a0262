"""``Queue`` with DBOS Transact's signature: ``Queue(name, concurrency=None, limiter=None,
*, worker_concurrency=None, ...)`` (the native class takes ``worker_concurrency`` second)."""

from __future__ import annotations

from typing import Any

from django_durable.queues import Queue as DurableQueue


class Queue(DurableQueue):
    """``django_durable.Queue`` with DBOS's positional order and keyword names."""

    def __init__(
        self,
        name: str,
        concurrency: int | None = None,
        limiter: dict[str, Any] | None = None,
        *,
        worker_concurrency: int | None = None,
        global_concurrency: int | None = None,
        priority_enabled: bool = False,
        partition_queue: bool = False,
        polling_interval_sec: float | None = None,
    ) -> None:
        if concurrency is not None and global_concurrency is not None:
            raise ValueError("Give concurrency or global_concurrency (its newer name), not both.")
        super().__init__(
            name,
            concurrency if concurrency is not None else global_concurrency,
            worker_concurrency,
            limiter,
            priority_enabled=priority_enabled,
            partition_queue=partition_queue,
            polling_interval_sec=polling_interval_sec,
        )
