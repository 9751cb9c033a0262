"""The ``Worker`` loop: claim enqueued runs of this process's queues and execute them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from django.db import DatabaseError, close_old_connections, connections
from django.db.models import Q
from django.utils import timezone

from django_durable import conf, registry
from django_durable.db import NOTIFY_CHANNEL, is_postgresql, listen
from django_durable.engine import execution, recovery
from django_durable.engine import runtime as runtimes
from django_durable.engine.runtime import Runtime
from django_durable.exceptions import ConfigurationError, ExecutionInterrupted
from django_durable.models import WorkflowRun
from django_durable.queue_board import QueueBoard
from django_durable.queue_store import sync_code_queues, unknown_queue_names
from django_durable.queues import INTERNAL_QUEUE, Queue, claim

logger = logging.getLogger(__name__)


class Worker:
    """Executes the runs enqueued on ``queues``: sync ones on a thread pool of
    ``concurrency`` threads, async ones on its runtime's event loop.

    ``run()`` loops until ``stop()``; with ``batch=True`` it returns once nothing is left to
    claim and nothing is running, and with ``max_runs`` once that many runs were taken and
    have finished. The queue's own limits apply on top of ``concurrency``.

    ``runtime``: the runtime whose executor id claims and executes the runs (shared with
    whoever gave it, e.g. ``runscheduler``). Without one, the worker uses this process's
    runtime, unless ``executor_id`` names another executor: then it makes its own runtime
    with that id and shuts it down when ``run()`` returns.

    ``queues=None`` serves every queue, those declared in code and those registered in the
    database (one registered while it runs is served within a second); each queue's
    limits and polling interval are re-read from the queue table every second.
    """

    def __init__(
        self,
        *,
        queues: Iterable[str] | None = None,
        concurrency: int = 8,
        runtime: Runtime | None = None,
        executor_id: str | None = None,
        poll_interval: float | None = None,
        max_runs: int | None = None,
        batch: bool = False,
        shutdown_timeout: float = 30.0,
        listen: bool = True,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}.")
        if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
            raise ConfigurationError(f"max_runs must be an int >= 1, got {max_runs!r}.")
        if shutdown_timeout < 0:
            raise ConfigurationError(f"shutdown_timeout must be >= 0, got {shutdown_timeout!r}.")
        names: list[str] | None = None
        if queues is None:
            self.queues: list[Queue] = registry.all_queues()
        else:
            names = list(dict.fromkeys(queues))
            declared = {queue.name: queue for queue in registry.all_queues()}
            stored = [name for name in names if name not in declared]
            if stored:  # registered in the database, or nowhere
                unknown = unknown_queue_names(stored)
                if unknown:
                    registry.get_queue(unknown[0])  # raises the "not declared" error
            self.queues = [declared[name] for name in names if name in declared]
        if INTERNAL_QUEUE not in self.queues:
            # Resumed, forked, recovered and scheduled runs must always find a worker.
            self.queues.append(INTERNAL_QUEUE)
        self.concurrency = concurrency
        if runtime is not None and executor_id is not None and executor_id != runtime.executor_id:
            raise ConfigurationError(
                f"executor_id {executor_id!r} differs from the runtime's "
                f"{runtime.executor_id!r}; give one or the other."
            )
        if runtime is None:
            process = runtimes.current()
            if executor_id is None or executor_id == process.executor_id:
                runtime = process  # one runtime per executor id in a process
        self._owns_runtime = runtime is None
        self.runtime = runtime if runtime is not None else Runtime(executor_id)
        self.executor_id = self.runtime.executor_id
        self.poll_interval = float(
            poll_interval if poll_interval is not None else conf.get("POLL_INTERVAL")
        )
        self.board = QueueBoard(names, default_interval=self.poll_interval)
        self._woken = True
        self.max_runs = max_runs
        self.batch = batch
        self.shutdown_timeout = shutdown_timeout
        self.listen = listen
        self.claimed = 0
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[Any]] = {}
        self._retry_at: dict[str, tuple[float, str]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._listener: threading.Thread | None = None
        self._next_recovery = 0.0

    # -- public ------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (or until done in batch / max-runs mode); returns runs claimed."""
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="durable-worker")
        self.runtime.started_running()
        if self.listen and is_postgresql(conf.database_alias()) and not self.batch:
            self._listener = threading.Thread(
                target=self._listen, name="durable-listen", daemon=True
            )
            self._listener.start()
        self._write_code_queues()
        if not self.batch:
            self._requeue_own_leftovers()
        backoff = self.poll_interval
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    took = self._tick()
                    backoff = self.poll_interval
                except DatabaseError as exc:
                    logger.warning(
                        "Database unavailable (%s); retrying in %.1fs",
                        exc,
                        backoff,
                        extra={"action": "database_unavailable"},
                    )
                    connections.close_all()
                    self._stopping.wait(backoff)
                    backoff = min(max(backoff, 0.1) * 2, 30.0)
                    continue
                finally:
                    close_old_connections()
                if self._finished(took):
                    break
                self._woken = True
                if not took or self._full():
                    wait = min(self.poll_interval, self.board.next_poll_in())
                    self._woken = self._wake.wait(wait)
        finally:
            self._shutdown()
        return self.claimed

    def _write_code_queues(self) -> None:
        """Write the queues declared in code as rows (so their settings can be changed at
        runtime); a database error is logged and the declarations are served as they are."""
        try:
            sync_code_queues()
        except DatabaseError as exc:
            logger.warning(
                "Could not write the queues declared in code: %s",
                exc,
                extra={"action": "database_unavailable"},
            )
        finally:
            close_old_connections()

    def _requeue_own_leftovers(self) -> None:
        """Re-enqueue the ``PENDING`` runs an earlier process with this executor id left.

        Its heartbeat is this process's now, so nobody else would ever see them as
        orphaned. Runs this runtime is executing (a direct call in another thread) are
        left alone.
        """
        try:
            recovery.requeue_leftovers(self.runtime)
        except DatabaseError as exc:
            logger.warning(
                "Could not re-enqueue the runs executor %s left before it restarted: %s",
                self.executor_id,
                exc,
                extra={"action": "database_unavailable"},
            )
        finally:
            close_old_connections()

    def has_leftovers(self) -> bool:
        """Whether runs were still executing when ``run()`` returned."""
        with self._lock:
            return bool(self._in_flight)

    def stop(self) -> None:
        """Stop claiming; ``run()`` returns once running workflows finish (or time out)."""
        self._stopping.set()
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------

    def _tick(self) -> int:
        now = timezone.now()
        if time.monotonic() >= self._next_recovery:
            recovery.recover_dead(now, float(conf.get("DEAD_EXECUTOR_TIMEOUT")))
            self._next_recovery = time.monotonic() + float(conf.get("HEARTBEAT_INTERVAL"))
        self._resubmit_interrupted()
        names = registry.workflow_names()
        took = 0
        for queue in self.board.to_claim(self._woken):
            free = self._free_slots()
            if free <= 0:
                break
            for row in claim(queue, self.executor_id, free, now, names):
                self._submit(row.pk, row.name, row)
                took += 1
        return took

    def _free_slots(self) -> int:
        with self._lock:
            free = self.concurrency - len(self._in_flight)
        if self.max_runs is not None:
            free = min(free, self.max_runs - self.claimed)
        return free

    def _full(self) -> bool:
        return self._free_slots() <= 0

    def _finished(self, took: int) -> bool:
        with self._lock:
            idle = not self._in_flight and not self._retry_at
        if not idle:
            return False
        if self.max_runs is not None and self.claimed >= self.max_runs:
            return True
        # Batch mode ends when nothing runs and nothing this process could claim is left
        # (runs held back by a queue's limits are waited for).
        return self.batch and took == 0 and not self._claimable_left()

    def _claimable_left(self) -> bool:
        runs = (
            WorkflowRun.objects.using(conf.database_alias())
            .enqueued()
            .due(timezone.now())
            .filter(
                queue_name__in=[q.name for q in self.board.queues()],
                name__in=registry.workflow_names(),
            )
        )
        version = conf.application_version()
        if version is not None:  # runs of other versions are not for this worker
            runs = runs.filter(
                Q(application_version__isnull=True) | Q(application_version=version)
            )
        return runs.exists()

    def _submit(self, workflow_id: str, name: str, row: WorkflowRun | None = None) -> None:
        self.claimed += 1
        info = registry.find_workflow(name)
        future: Future[Any]
        if info is not None and info.is_async:
            future = self.runtime.submit_coroutine(self._run_async(workflow_id, name, row))
        else:
            assert self._pool is not None  # noqa: S101  (set by run())
            future = self._pool.submit(self._run_sync, workflow_id, name, row)
        with self._lock:
            self._in_flight[workflow_id] = future
        future.add_done_callback(lambda _: self._done(workflow_id))

    def _done(self, workflow_id: str) -> None:
        with self._lock:
            self._in_flight.pop(workflow_id, None)
        self._wake.set()

    def _run_sync(self, workflow_id: str, name: str, row: WorkflowRun | None) -> None:
        close_old_connections()
        try:
            execution.execute_stored(workflow_id, self.runtime, row)
        except ExecutionInterrupted as exc:
            self._interrupted(workflow_id, name, exc)
        except Exception as exc:
            execution.log_end(workflow_id, exc)
        finally:
            close_old_connections()

    async def _run_async(self, workflow_id: str, name: str, row: WorkflowRun | None) -> None:
        try:
            await execution.aexecute_stored(workflow_id, self.runtime, row)
        except ExecutionInterrupted as exc:
            # (No connection to close here: the run's database work went through the
            # runtime's threads, which recycle theirs.)
            self._interrupted(workflow_id, name, exc, close=False)
        except Exception as exc:
            execution.log_end(workflow_id, exc)

    def _interrupted(
        self, workflow_id: str, name: str, exc: BaseException, *, close: bool = True
    ) -> None:
        logger.warning(
            "Workflow %s was interrupted (%s); it resumes when the database is back",
            workflow_id,
            exc,
            extra={"action": "workflow_interrupted", "workflow_id": workflow_id},
        )
        if close:
            connections.close_all()
        with self._lock:
            self._retry_at[workflow_id] = (time.monotonic() + 1.0, name)

    def _resubmit_interrupted(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [(wid, name) for wid, (at, name) in self._retry_at.items() if at <= now]
            for wid, _ in due:
                del self._retry_at[wid]
        for workflow_id, name in due:
            self.claimed -= 1  # a retry is not a new claim
            self._submit(workflow_id, name)

    def _listen(self) -> None:
        """Wake the loop as soon as a run is enqueued anywhere (PostgreSQL LISTEN)."""
        listen(conf.database_alias(), NOTIFY_CHANNEL, self._wake, self._stopping)

    def _shutdown(self) -> None:
        self._stopping.set()  # also ends the LISTEN thread when run() ended on its own
        deadline = time.monotonic() + self.shutdown_timeout
        while True:
            with self._lock:
                pending = list(self._in_flight.values())
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                break
            try:
                # Short waits: a signal delivered to another thread does not interrupt
                # this one, and the main thread must get back to bytecode to handle it
                # (a second SIGTERM exits at once).
                pending[0].exception(timeout=min(remaining, 0.2))
            except FutureTimeoutError:
                continue
        with self._lock:
            left = sorted(self._in_flight)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._listener is not None:
            self._listener.join(5)
        if self._owns_runtime:
            self.runtime.shutdown(timeout=0)
        connections.close_all()
        if left:
            logger.warning(
                "Stopped with %d workflows still running; they stay PENDING and are recovered: %s",
                len(left),
                ", ".join(left),
                extra={"action": "worker_stopped"},
            )
        else:
            logger.info("Worker %s stopped", self.executor_id, extra={"action": "worker_stopped"})
