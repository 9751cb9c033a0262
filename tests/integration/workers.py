"""Running ``Worker`` loops inside the test process, and cleaning up after them."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections

from django_durable.worker import Worker


def release(worker: Worker) -> None:
    """Stop the threads a returned worker may leave behind: its LISTEN thread (PostgreSQL),
    and its own runtime's threads and event loop (see ``test_worker.py``:
    ``test_a_worker_leaves_no_listen_thread_behind``, ``test_a_worker_closes_its_event_
    loop``). Left alone, the first keeps a connection to the test database open for good
    (dropping it fails at the end of the session) and the second fails the session with a
    ResourceWarning.
    """
    worker.stop()
    if worker._listener is not None:
        worker._listener.join(10)
    if worker._owns_runtime:
        worker.runtime.shutdown()


def run_worker(*queue_names: str, **kwargs: Any) -> int:
    """Run a worker on ``queue_names`` (default: every queue) in this thread until it
    returns; batch mode unless ``max_runs`` or ``batch=False`` is given. Returns the runs
    it claimed."""
    kwargs.setdefault("poll_interval", 0.05)
    if "max_runs" not in kwargs:
        kwargs.setdefault("batch", True)
    worker = Worker(queues=list(queue_names) or None, **kwargs)
    try:
        return worker.run()
    finally:
        release(worker)


class WorkerThread:
    """A worker running on a helper thread, so the test can act while it runs."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("poll_interval", 0.05)
        self.worker = Worker(**kwargs)
        self.claimed: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="test-worker", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.claimed = self.worker.run()
        except BaseException as exc:
            self.error = exc
        finally:
            connections.close_all()

    def join(self, timeout: float = 30.0) -> int:
        """Wait for ``run()`` to return; what it returned (fails if it raised)."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not return"
        assert self.error is None, f"run() raised {self.error!r}"
        assert self.claimed is not None
        return self.claimed

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(30)
        release(self.worker)
