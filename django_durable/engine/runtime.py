"""The runtime: what one process needs to run workflows, owned by whoever runs them.

A ``Runtime`` has the executor id, the heartbeat, the runs executing here, the threads
that execute runs started in the background, the event loop of ``async def`` runs and the
threads that do their database work. ``runscheduler`` creates and owns one; a web process
gets a default one, created on first use and shut down at exit; tests make and tear down
their own. Nothing else in the package holds running state.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from django.db import DatabaseError, close_old_connections, connections

from django_durable import conf, context
from django_durable.context import Checkpoint, RunContext
from django_durable.engine import threads
from django_durable.engine.active import ActiveRun, Flusher
from django_durable.engine.heartbeat import Heartbeat, mark_stopped
from django_durable.engine.wakeups import Wakeups
from django_durable.exceptions import ExecutionInterrupted

logger = logging.getLogger(__name__)

T = TypeVar("T")
CheckpointObserver = Callable[[RunContext, Checkpoint], None]


class Runtime:
    """Everything running here: ``Runtime(executor_id=None)``, then ``shutdown()``.

    ``executor_id`` defaults to ``DURABLE["EXECUTOR_ID"]`` or ``<host>:<pid>``. Threads and
    the event loop are created on first use; the heartbeat starts with the first run.
    """

    def __init__(self, executor_id: str | None = None, *, background_threads: int = 256):
        if executor_id is not None and (not isinstance(executor_id, str) or not executor_id):
            raise ValueError(f"executor_id must be a non-empty string, got {executor_id!r}.")
        self.executor_id = executor_id or conf.executor_id()
        self.heartbeat = Heartbeat(self.executor_id)
        self.checkpoint_observers: list[CheckpointObserver] = []
        """Called in the run's thread right after each checkpoint commits (a testing hook);
        while there is one, checkpoints are written at once, never held."""
        self._background_threads = background_threads
        self._lock = threading.Lock()
        self._active: dict[str, ActiveRun] = {}
        self._stopping = threading.Event()
        self._background: concurrent.futures.ThreadPoolExecutor | None = None
        self._db_threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._flusher: Flusher | None = None
        self._wakeups: Wakeups | None = None
        self._stopped = False
        threads.tag_threads_with_their_run()
        _live.add(self)

    def __repr__(self) -> str:
        return f"<Runtime {self.executor_id!r}>"

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- the runs executing here -------------------------------------------------------

    def try_hold(self, workflow_id: str) -> ActiveRun | None:
        """Hold ``workflow_id`` for the caller; ``None`` if another thread holds it."""
        with self._lock:
            if workflow_id in self._active:
                return None
            active = self._active[workflow_id] = ActiveRun()
            return active

    def release(self, workflow_id: str, active: ActiveRun) -> None:
        with self._lock:
            if self._active.get(workflow_id) is active:
                del self._active[workflow_id]
        if not active.done.done():
            active.done.set_result(None)

    def active(self, workflow_id: str) -> ActiveRun | None:
        with self._lock:
            return self._active.get(workflow_id)

    def active_ids(self) -> set[str]:
        with self._lock:
            return set(self._active)

    def request_cancel(self, workflow_id: str) -> None:
        """Make the steps of a run executing here stop at their next boundary."""
        active = self.active(workflow_id)
        if active is not None and active.run is not None:
            active.run.cancel_event.set()

    def hold(self, workflow_id: str) -> ActiveRun:
        """Hold ``workflow_id`` once no other thread of this process executes it."""
        while True:
            holder = self.try_hold(workflow_id)
            if holder is not None:
                return holder
            current = self.active(workflow_id)
            if current is not None:
                current.wait(1.0)

    async def hold_async(self, workflow_id: str) -> ActiveRun:
        """``hold`` without blocking the event loop."""
        while True:
            holder = self.try_hold(workflow_id)
            if holder is not None:
                return holder
            current = self.active(workflow_id)
            if current is not None:
                await current.wait_async(1.0)

    def started_running(self) -> None:
        """Called by each execution: a process that runs workflows heartbeats."""
        self.heartbeat.ensure_started()

    # -- threads ----------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        """Run ``fn`` on a background thread of this runtime, in a fresh context."""
        with self._lock:
            if self._background is None:
                self._background = concurrent.futures.ThreadPoolExecutor(
                    self._background_threads, thread_name_prefix="durable-background"
                )
            pool = self._background
        future = pool.submit(contextvars.Context().run, fn)
        self._track(future)
        return future

    def submit_coroutine(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on this runtime's event loop (a thread of its own)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.event_loop())
        self._track(future)
        return future

    def _track(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._untrack)

    def _untrack(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def flush_later(
        self, run: RunContext, delay: float, flush: Callable[[RunContext], None]
    ) -> None:
        """Call ``flush(run)`` on this runtime's flusher thread after ``delay`` seconds."""
        with self._lock:
            if self._flusher is None:
                self._flusher = Flusher()
            flusher = self._flusher
        flusher.add(time.monotonic() + delay, run, flush)

    @property
    def wakeups(self) -> Wakeups:
        """The waiters for messages, events and streams in this runtime (made on first use)."""
        with self._lock:
            if self._wakeups is None:
                self._wakeups = Wakeups()
            return self._wakeups

    def wake(self, key: str) -> None:
        """Wake this runtime's waiters of ``key``, if it has any."""
        with self._lock:
            wakeups = self._wakeups
        if wakeups is not None:
            wakeups.wake(key)

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop ``async def`` runs of this runtime execute on."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="durable-async", daemon=True
                )
                thread.start()
                self._loop, self._loop_thread = loop, thread
            return self._loop

    async def run_sync(self, fn: Callable[[], T]) -> T:
        """Run the sync (database) function ``fn`` off the event loop, in the caller's
        context, on a pool of this runtime: one slow call never stalls other runs."""
        ctx = contextvars.copy_context()

        def job() -> T:
            try:
                return ctx.run(fn)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self._db_pool(), job)

    def _db_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._db_threads is None:
                self._db_threads = concurrent.futures.ThreadPoolExecutor(
                    32, thread_name_prefix="durable-sync"
                )
            return self._db_threads

    def call_off_loop(self, fn: Callable[[], T]) -> T:
        """Run sync durable work called on an event loop's thread on one of this runtime's
        threads, in the caller's context; the caller blocks, as on any sync call."""
        ctx = contextvars.copy_context()

        def job() -> T:
            try:
                return ctx.run(fn)
            finally:
                close_old_connections()

        return self._db_pool().submit(job).result()

    def retry_interrupted(self, attempt: Callable[[], T], what: str) -> T | None:
        """Call ``attempt`` until it does not raise ``ExecutionInterrupted`` (the database
        was lost), waiting 1 s, then twice as long each time up to 30 s; ``None`` once the
        runtime stops (the run stays ``PENDING`` and is recovered elsewhere)."""
        delay = 1.0
        while True:
            try:
                return attempt()
            except ExecutionInterrupted as exc:
                logger.warning(
                    "%s was interrupted (%s); retrying in %.0fs",
                    what,
                    exc,
                    delay,
                    extra={"action": "workflow_interrupted"},
                )
                connections.close_all()
                if self._stopping.wait(delay):
                    return None
                delay = min(delay * 2, 30.0)

    # -- shutdown ---------------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> list[str]:
        """Stop: wait up to ``timeout`` seconds for background runs, stop the threads and the
        heartbeat, and mark the executor stopped. Returns the runs still executing (left
        ``PENDING`` for recovery). Calling it again does nothing more."""
        with self._lock:
            if self._stopped:
                return sorted(self._active)
            self._stopped = True
        self._stopping.set()
        _live.discard(self)
        with self._lock:
            pending = list(self._pending)
        if pending:
            concurrent.futures.wait(pending, timeout)
        left = sorted(self.active_ids())
        for pool in (self._background, self._db_threads):
            if pool is not None:
                pool.shutdown(wait=not left, cancel_futures=True)
        if self._loop is not None and not self._loop.is_closed():
            loop = self._loop
            loop.call_soon_threadsafe(loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(5)
            if not loop.is_running():
                loop.close()
        if self._flusher is not None:
            self._flusher.stop()
        if self._wakeups is not None:
            self._wakeups.stop()
        if self.heartbeat.stop():
            try:
                mark_stopped(self.executor_id, leftover=bool(left))
            except DatabaseError:
                logger.warning("Could not record the executor's shutdown", exc_info=True)
            finally:
                connections.close_all()
        return left


# ---------------------------------------------------------------- which runtime runs here

_lock = threading.Lock()
_default: list[Runtime] = []
"""The process's default runtime, once created (and the pid that created it)."""
_default_pid: list[int] = []
_installed: list[Runtime] = []
_live: weakref.WeakSet[Runtime] = weakref.WeakSet()
"""Every runtime of this process not yet shut down (a cancel reaches each)."""


def executing_here(workflow_id: str) -> bool:
    """Whether any runtime of this process is executing ``workflow_id`` right now."""
    return any(runtime.active(workflow_id) is not None for runtime in list(_live))


def request_cancel(workflow_id: str) -> None:
    """Make a run executing in any runtime of this process stop at its next boundary (a
    durable sleep or a retry pause ends at once)."""
    for runtime in list(_live):
        runtime.request_cancel(workflow_id)


def wake_waiters(key: str) -> None:
    """Wake the waiters of ``key`` in every runtime of this process."""
    for runtime in list(_live):
        runtime.wake(key)


def current() -> Runtime:
    """The runtime of the run executing in this context; else the one ``runscheduler``
    installed for this process; else the process's default runtime (created now)."""
    run = context.current()
    if run is not None:
        return run.runtime  # type: ignore[no-any-return]
    if _installed:
        return _installed[-1]
    return default()


def default() -> Runtime:
    """The process's default runtime: created once (again after a fork), shut down at exit."""
    pid = os.getpid()
    if _default and _default_pid[0] == pid:
        return _default[0]
    with _lock:
        if not _default or _default_pid[0] != pid:
            runtime = Runtime()
            _default[:] = [runtime]
            _default_pid[:] = [pid]
            if len(_default_pid) == 1:
                atexit.register(_shutdown_default_at_exit)
        return _default[0]


def shutdown_default(timeout: float = 5.0) -> None:
    """Shut the default runtime down if one was created (the next use creates a new one)."""
    with _lock:
        runtime = _default[0] if _default and _default_pid[0] == os.getpid() else None
        _default.clear()
        _default_pid.clear()
    if runtime is not None:
        runtime.shutdown(timeout)


def stop_default_heartbeat() -> None:
    """Stop the default runtime's heartbeat thread, without recording anything (test
    suites call it between tests); its next run starts it again."""
    if _default and _default_pid[0] == os.getpid():
        _default[0].heartbeat.stop()


def _shutdown_default_at_exit() -> None:
    try:
        shutdown_default(timeout=1.0)
    except Exception:  # the database may be gone at exit; recovery covers what is left
        logger.debug("Shutting the default runtime down at exit failed", exc_info=True)


def install(runtime: Runtime) -> None:
    """Make ``runtime`` this process's runtime (``runscheduler`` does) until ``uninstall``."""
    with _lock:
        _installed.append(runtime)


def uninstall(runtime: Runtime) -> None:
    with _lock:
        if runtime in _installed:
            _installed.remove(runtime)
