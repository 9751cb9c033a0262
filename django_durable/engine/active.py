"""What a runtime keeps per run and per process: the hold on a run executing here, and
the flusher that writes checkpoints a run held too long."""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections, connections

from django_durable.context import RunContext

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class ActiveRun:
    """A run held by one thread (or task) of this process while it executes it."""

    done: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)
    run: RunContext | None = None

    def wait(self, timeout: float | None) -> bool:
        """Block until the holder releases the run (or ``timeout``); whether it did."""
        done, _ = concurrent.futures.wait([self.done], timeout)
        return bool(done)

    async def wait_async(self, timeout: float | None) -> bool:
        """``wait`` without blocking the event loop."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object) -> None:
            try:
                loop.call_soon_threadsafe(_settle, waiter)
            except RuntimeError:  # the loop has closed: nobody waits any more
                pass

        self.done.add_done_callback(wake)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        return True


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Flusher:
    """One thread that writes held checkpoints whose run did not write them in time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, RunContext, Callable[[RunContext], None]]] = []
        self._count = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="durable-flusher", daemon=True)
        self._thread.start()

    def add(self, at: float, run: RunContext, flush: Callable[[RunContext], None]) -> None:
        with self._cond:
            heapq.heappush(self._due, (at, next(self._count), run, flush))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(5)

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stopped and (
                        not self._due or self._due[0][0] > time.monotonic()
                    ):
                        timeout = self._due[0][0] - time.monotonic() if self._due else None
                        self._cond.wait(timeout)
                    if self._stopped:
                        return
                    _, _, run, flush = heapq.heappop(self._due)
                try:
                    flush(run)
                except Exception:
                    logger.warning("A late checkpoint flush failed", exc_info=True)
                finally:
                    close_old_connections()
        finally:
            connections.close_all()
