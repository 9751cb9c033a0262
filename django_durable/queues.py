"""Queues: declare them, enqueue runs on them, and claim enqueued runs for a worker.

A queue declared in code (``Queue(...)`` in a ``workflows.py``) is written to the
``WorkflowQueue`` table when a worker starts; ``register_queue`` writes one at runtime.
Workers read the table, so the setters (``set_concurrency``, ...) and the admin change a
queue's limits for every process at once (see ``queue_store``).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from django_durable import context, registry
from django_durable.engine import enqueue as enqueuing
from django_durable.engine import runtime as runtimes
from django_durable.engine.handles import WorkflowHandle
from django_durable.exceptions import ConfigurationError, InvalidStateError
from django_durable.queue_claims import claim
from django_durable.queue_limits import Limiter, QueueSettings, check_name, problems

__all__ = ["INTERNAL_QUEUE", "INTERNAL_QUEUE_NAME", "Limiter", "Queue", "claim"]

logger = logging.getLogger(__name__)

INTERNAL_QUEUE_NAME = registry.INTERNAL_QUEUE_NAME


def _declaring_module() -> str:
    """The module whose code declared the queue (the first caller outside this package's
    own queue classes, so a subclass such as ``django_durable.dbos.Queue`` is seen
    through)."""
    frame = inspect.currentframe()
    while frame is not None:
        module = str(frame.f_globals.get("__name__", "?"))
        if module not in (__name__, "django_durable.dbos._queue"):
            return module
        frame = frame.f_back
    return "?"


class Queue:
    """A named queue of runs, claimed by the workers of any number of processes.

    ``concurrency`` caps the runs of this queue executing at once across all processes,
    ``worker_concurrency`` caps them per process, and ``limiter`` (``{"limit": L,
    "period": seconds}``) caps how many start in any rolling window. With
    ``partition_queue=True`` every enqueue names a partition
    (``SetEnqueueOptions(queue_partition_key=...)``) and each partition has these limits to
    itself. ``polling_interval_sec`` is how often idle workers look for its runs (default
    ``DURABLE["POLL_INTERVAL"]``); ``priority_enabled`` is recorded for DBOS compatibility
    (lower priority numbers always run first).
    """

    def __init__(
        self,
        name: str,
        concurrency: int | None = None,
        worker_concurrency: int | None = None,
        limiter: dict[str, Any] | None = None,
        *,
        priority_enabled: bool = False,
        partition_queue: bool = False,
        polling_interval_sec: float | None = None,
    ) -> None:
        problem = check_name(name)
        if problem is not None:
            raise ConfigurationError(problem)
        settings, errors = problems(
            {
                "concurrency": concurrency,
                "worker_concurrency": worker_concurrency,
                "limiter": limiter,
                "priority_enabled": priority_enabled,
                "partition_queue": partition_queue,
                "polling_interval_sec": polling_interval_sec,
            }
        )
        if settings is None:
            raise ConfigurationError(f"Queue {name!r}: {' '.join(errors.values())}")
        self.name = name
        self.declaration = settings
        """The settings as declared in the code (written as the queue's row)."""
        self.settings = settings
        """The settings as this object last read or wrote them."""
        self.declared = True
        registry.register_queue(name, _declaring_module(), self)

    @classmethod
    def stored(cls, name: str, settings: QueueSettings) -> Queue:
        """A queue as the table has it (``register_queue``, ``retrieve_queue``): not declared
        in this process's code, not registered."""
        queue = cls.__new__(cls)
        queue.name, queue.settings, queue.declared = name, settings, False
        queue.declaration = settings
        return queue

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    # -- settings (as last read or written by this object) ------------------------------

    @property
    def concurrency(self) -> int | None:
        return self.settings.concurrency

    @property
    def global_concurrency(self) -> int | None:
        """DBOS's newer name of ``concurrency``."""
        return self.settings.concurrency

    @property
    def worker_concurrency(self) -> int | None:
        return self.settings.worker_concurrency

    @property
    def limiter(self) -> Limiter | None:
        return self.settings.limiter

    @property
    def priority_enabled(self) -> bool:
        return self.settings.priority_enabled

    @property
    def partition_queue(self) -> bool:
        return self.settings.partition_queue

    @property
    def polling_interval_sec(self) -> float | None:
        return self.settings.polling_interval_sec

    @property
    def serialised(self) -> bool:
        """Whether claimers of this queue must take turns (it has a global limit)."""
        return self.settings.concurrency is not None or self.settings.limiter is not None

    # -- changing the settings for every process ---------------------------------------

    def _set(self, **changes: Any) -> None:
        from django_durable import queue_store

        self.settings = queue_store.update_queue(self, changes)

    async def _set_async(self, **changes: Any) -> None:
        await runtimes.current().run_sync(lambda: self._set(**changes))

    def set_concurrency(self, value: int | None) -> None:
        """Change the global limit of this queue for every process."""
        self._set(concurrency=value)

    def set_global_concurrency(self, value: int | None) -> None:
        """DBOS's newer name of ``set_concurrency``."""
        self._set(concurrency=value)

    def set_worker_concurrency(self, value: int | None) -> None:
        """Change the per-process limit of this queue for every process."""
        self._set(worker_concurrency=value)

    def set_limiter(self, value: dict[str, Any] | None) -> None:
        """Change the rate limit (``{"limit": L, "period": seconds}`` or ``None``)."""
        self._set(limiter=value)

    def set_priority_enabled(self, value: bool) -> None:
        self._set(priority_enabled=value)

    def set_polling_interval_sec(self, value: float | None) -> None:
        """Change how often idle workers look for this queue's runs."""
        self._set(polling_interval_sec=value)

    async def set_concurrency_async(self, value: int | None) -> None:
        await self._set_async(concurrency=value)

    async def set_global_concurrency_async(self, value: int | None) -> None:
        await self._set_async(concurrency=value)

    async def set_worker_concurrency_async(self, value: int | None) -> None:
        await self._set_async(worker_concurrency=value)

    async def set_limiter_async(self, value: dict[str, Any] | None) -> None:
        await self._set_async(limiter=value)

    async def set_priority_enabled_async(self, value: bool) -> None:
        await self._set_async(priority_enabled=value)

    async def set_polling_interval_sec_async(self, value: float | None) -> None:
        await self._set_async(polling_interval_sec=value)

    # -- enqueueing --------------------------------------------------------------------

    def check_partition_key(self) -> None:
        """Refuse an enqueue whose partition key does not fit this queue."""
        options = context.enqueue_options()
        key = options.queue_partition_key if options is not None else None
        if self.partition_queue and key is None:
            raise InvalidStateError(
                f"Queue {self.name!r} is partitioned: enqueue inside "
                f"SetEnqueueOptions(queue_partition_key=...)."
            )
        if key is not None and not self.partition_queue:
            raise InvalidStateError(
                f"Queue {self.name!r} is not partitioned; queue_partition_key {key!r} "
                f"cannot be used with it."
            )

    def enqueue(self, fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """Enqueue a run of workflow ``fn``; a worker of any process will execute it.

        Inside a workflow the run is a child (id ``<parent>-<step>``), recorded as a step.
        The same workflow id twice enqueues once.
        """
        info, receiver = registry.info_of(fn)
        self.check_partition_key()
        workflow_id, _ = enqueuing.enqueue(info, receiver + args, kwargs, queue_name=self.name)
        return WorkflowHandle(workflow_id)

    async def enqueue_async(self, fn: Any, *args: Any, **kwargs: Any) -> WorkflowHandle:
        """``enqueue`` for coroutines (the row is written off the event loop)."""
        info, receiver = registry.info_of(fn)
        self.check_partition_key()
        workflow_id, _ = await enqueuing.enqueue_async(
            info, receiver + args, kwargs, queue_name=self.name
        )
        return WorkflowHandle(workflow_id)


INTERNAL_QUEUE = Queue(INTERNAL_QUEUE_NAME)
"""The queue that carries recovered, resumed and scheduled runs."""
