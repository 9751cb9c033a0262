"""Instrumentation of the benchmark's scheduler process (``DURABLE_BENCH_MARKS=<dir>``).

It counts and times (wall clock) every SQL statement the process sends through Django, by
kind, every COMMIT and every new connection, and records each ``Scheduler.tick``: start,
wall time, CPU time of the thread, slots enqueued, and database time and statements in it.
On ``SIGUSR1`` it writes the totals so far and the ticks since the previous mark to
``<dir>/mark-<n>.json``.
With ``profile=True`` the first mark starts cProfile (CPU time of the main thread, where
the scheduler loop runs: waits for the database do not show) and the second writes
``<dir>/scheduler.prof``.
"""

from __future__ import annotations

import cProfile
import json
import os
import signal
import time
from collections import defaultdict
from typing import Any

from django.db.backends.postgresql.base import DatabaseWrapper
from django.db.backends.signals import connection_created

from django_durable.scheduler import Scheduler

_stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
_ticks: list[dict[str, float]] = []
_marks: list[int] = [0]
_profile: list[cProfile.Profile] = []


def _add(kind: str, seconds: float) -> None:
    entry = _stats[kind]
    entry[0] += 1
    entry[1] += seconds


def _kind(sql: str) -> str:
    words = sql.lstrip().split(None, 2)
    verb = words[0].upper() if words else "?"
    if verb == "SELECT" and "pg_notify" in sql:
        return "NOTIFY"
    if verb == "SELECT" and "workflowschedule" in sql:
        return "SELECT schedules"
    return verb


def _timed_execute(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        _add(_kind(sql), time.perf_counter() - started)


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _timed_execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timed_execute)
    if not getattr(connection, "_bench_timed", False):
        commit = connection._commit

        def timed_commit() -> Any:
            started = time.perf_counter()
            try:
                return commit()
            finally:
                _add("COMMIT", time.perf_counter() - started)

        connection._commit = timed_commit
        connection._bench_timed = True


def _db_seconds() -> tuple[float, float]:
    """Database seconds (statements, commits, connects) and statements so far."""
    seconds = sum(v[1] for v in _stats.values())
    return seconds, sum(v[0] for k, v in _stats.items() if k not in ("COMMIT", "connect"))


def _mark(directory: str) -> None:
    _marks[0] += 1
    number = _marks[0]
    times = os.times()
    data = {
        "pid": os.getpid(),
        "time": time.time(),
        "cpu": times.user + times.system,
        "stats": {k: list(v) for k, v in _stats.items()},
        "ticks": list(_ticks),
    }
    _ticks.clear()
    if number == 1 and _profile:
        _profile[0].enable()
    if number == 2 and _profile:
        _profile[0].disable()
        _profile[0].dump_stats(os.path.join(directory, "scheduler.prof"))
    path = os.path.join(directory, f"mark-{number}.json")
    with open(path + ".tmp", "w") as out:
        json.dump(data, out)
    os.replace(path + ".tmp", path)


def install(directory: str, *, profile: bool = False) -> None:
    connection_created.connect(_on_connection, dispatch_uid="durable_sched_bench")
    connect = DatabaseWrapper.connect

    def timed_connect(self: DatabaseWrapper) -> None:
        started = time.perf_counter()
        try:
            connect(self)
        finally:
            _add("connect", time.perf_counter() - started)

    DatabaseWrapper.connect = timed_connect  # type: ignore[method-assign]
    tick = Scheduler.tick

    def timed_tick(self: Scheduler, now: Any = None) -> int:
        started, clock, cpu = time.time(), time.perf_counter(), time.thread_time()
        db0, statements0 = _db_seconds()
        enqueued = tick(self, now)
        db1, statements1 = _db_seconds()
        _ticks.append(
            {
                "start": started,
                "seconds": time.perf_counter() - clock,
                "cpu": time.thread_time() - cpu,
                "enqueued": enqueued,
                "db": db1 - db0,
                "statements": statements1 - statements0,
            }
        )
        return enqueued

    Scheduler.tick = timed_tick  # type: ignore[method-assign]
    if profile:
        _profile.append(cProfile.Profile(time.thread_time))
    signal.signal(signal.SIGUSR1, lambda *_: _mark(directory))
