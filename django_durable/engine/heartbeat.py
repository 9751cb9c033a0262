"""Heartbeats: a process that runs workflows keeps its ``Executor`` row fresh."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime

from django.db import connections
from django.utils import timezone

from django_durable import conf
from django_durable.db import close_if_broken
from django_durable.models import Executor

logger = logging.getLogger(__name__)

STOPPED_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def heartbeat(executor_id: str, now: datetime) -> None:
    """Record that ``executor_id`` is alive (one UPDATE; an INSERT the first time)."""
    using = conf.database_alias()
    updated = Executor.objects.using(using).filter(pk=executor_id).update(last_heartbeat_at=now)
    if not updated:
        # One upsert statement: no transaction that reads and then writes (which SQLite
        # refuses at once while another connection writes).
        Executor.objects.using(using).bulk_create(
            [
                Executor(
                    executor_id=executor_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=now,
                    last_heartbeat_at=now,
                )
            ],
            update_conflicts=True,
            unique_fields=["executor_id"],
            update_fields=["hostname", "pid", "started_at", "last_heartbeat_at"],
        )


def mark_stopped(executor_id: str, *, leftover: bool) -> None:
    """On shutdown: forget the executor, or, if runs were left running, mark it dead at once
    so live workers recover them without waiting for the heartbeat timeout."""
    executors = Executor.objects.using(conf.database_alias()).filter(pk=executor_id)
    if leftover:
        executors.update(last_heartbeat_at=STOPPED_LONG_AGO)
    else:
        executors.delete()


class Heartbeat:
    """A thread that keeps one executor's row alive every ``HEARTBEAT_INTERVAL`` seconds.

    Owned by a ``Runtime``: started when it first executes a run, stopped with it.
    """

    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def ensure_started(self) -> None:
        if self.running:
            return
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="durable-heartbeat", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread; whether it was running."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return False
        self._stop.set()
        thread.join(timeout)
        return True

    def _run(self) -> None:
        using = conf.database_alias()
        try:
            while True:
                try:
                    heartbeat(self.executor_id, timezone.now())
                except Exception:
                    logger.warning(
                        "Heartbeat of %s failed; will retry",
                        self.executor_id,
                        exc_info=True,
                        extra={"action": "heartbeat_failed"},
                    )
                    connections[using].close()
                else:
                    close_if_broken(using)
                if self._stop.wait(float(conf.get("HEARTBEAT_INTERVAL"))):
                    return
        finally:
            connections.close_all()
