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
from django_durable.models import Executor

logger = logging.getLogger(__name__)


def heartbeat(executor_id: str, now: datetime) -> None:
    """Record that ``executor_id`` is alive (one UPDATE; an INSERT the first time)."""
    using = conf.database_alias()
    updated = Executor.objects.using(using).filter(pk=executor_id).update(last_heartbeat_at=now)
    if not updated:
        Executor.objects.using(using).update_or_create(
            executor_id=executor_id,
            defaults={
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": now,
                "last_heartbeat_at": now,
            },
        )


def mark_stopped(executor_id: str, *, leftover: bool) -> None:
    """On shutdown: forget the executor, or, if runs were left running, mark it dead at once
    so live workers recover them without waiting for the heartbeat timeout."""
    executors = Executor.objects.using(conf.database_alias()).filter(pk=executor_id)
    if leftover:
        executors.update(last_heartbeat_at=datetime(2000, 1, 1, tzinfo=UTC))
    else:
        executors.delete()


class _Heartbeat:
    """A daemon thread that keeps this process's executor row alive while it runs workflows.

    Started on first use by any process that executes workflows (web processes that call
    workflows directly included), so its orphaned runs are recovered when it dies.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="durable-heartbeat", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)
        self._thread = None

    def _run(self) -> None:
        while True:
            try:
                heartbeat(conf.executor_id(), timezone.now())
            except Exception:
                logger.warning("Heartbeat failed; will retry", exc_info=True)
            finally:
                connections.close_all()
            if self._stop.wait(float(conf.get("HEARTBEAT_INTERVAL"))):
                return


HEARTBEAT = _Heartbeat()
