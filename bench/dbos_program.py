"""The DBOS Transact side of the side-by-side benchmarks (``--compare-dbos``).

This program runs in its own virtualenv with DBOS Transact 3.4 installed (never in the
project's), against a scratch PostgreSQL database of its own; the benchmark scripts create
that virtualenv and database and start this program with one of three commands:

``direct``
    Launch DBOS in this process and call ``three_trivial_steps`` (three steps: ``x + 1``,
    ``x * 2``, ``x - 3``) ``--n`` times in a row after ``--warmup`` untimed calls, each
    call a new workflow; print one JSON line with the rate, latencies, client CPU and the
    statements and commits one workflow sends (counted over 10 calls with SQLAlchemy's
    engine events).
``worker``
    Launch DBOS, register the queue ``--queue`` with ``--poll`` seconds as its polling
    interval and no limits, print ``READY`` once its queue thread is polling, and execute
    what is enqueued until SIGTERM; then print one JSON line with this process's CPU time.
``enqueue``
    With a ``DBOSClient`` (DBOS's way of enqueuing from a process that runs no workflows),
    enqueue ``--warmup`` runs and wait until they have finished (so the worker and this
    process are warm) and print ``WARM``; then enqueue ``--n`` runs in a row and print one
    JSON line with the wall-clock time (``time.time()``) before the first and after the
    last timed enqueue.

The workload is written to match ``bench/benchapp/workflows.py`` (the same three steps).
Everything DBOS logs goes to stderr at WARNING and above.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import sys
import threading
import time
from typing import Any

from dbos import DBOS, DBOSClient, DBOSConfig

APP_NAME = "durable-bench"
WORKFLOW_NAME = "three_trivial_steps"


# ---------------------------------------------------------------- the workload


@DBOS.step(name="add_one")
def add_one(x: int) -> int:
    return x + 1


@DBOS.step(name="double")
def double(x: int) -> int:
    return x * 2


@DBOS.step(name="subtract_three")
def subtract_three(x: int) -> int:
    return x - 3


@DBOS.workflow(name=WORKFLOW_NAME)
def three_trivial_steps(x: int) -> int:
    return subtract_three(double(add_one(x)))


def expected(x: int) -> int:
    return 2 * (x + 1) - 3


# ---------------------------------------------------------------- helpers


def _launch(url: str, executor_id: str) -> None:
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": url,
        "executor_id": executor_id,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = math.ceil(round(fraction * len(sorted_values), 6))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def _count_statements(calls: int) -> dict[str, Any]:
    """Statements and commits per workflow over ``calls`` calls (every engine's events)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Connection, Engine

    verbs: list[str] = []
    commits = [0]

    def before_execute(
        conn: Connection, cursor: Any, statement: str, *args: Any, **kwargs: Any
    ) -> None:
        verbs.append(statement.lstrip().split(None, 1)[0].upper())

    def on_commit(conn: Connection) -> None:
        commits[0] += 1

    event.listen(Engine, "before_cursor_execute", before_execute)
    event.listen(Engine, "commit", on_commit)
    try:
        for i in range(calls):
            three_trivial_steps(i)
    finally:
        event.remove(Engine, "before_cursor_execute", before_execute)
        event.remove(Engine, "commit", on_commit)
    breakdown: dict[str, float] = {}
    for verb in verbs:
        breakdown[verb] = breakdown.get(verb, 0) + 1 / calls
    return {
        "statements": len(verbs) / calls,
        "breakdown": dict(sorted(breakdown.items())),
        "commits": commits[0] / calls,
    }


# ---------------------------------------------------------------- commands


def direct(args: argparse.Namespace) -> dict[str, Any]:
    _launch(args.url, "bench-direct")
    try:
        for i in range(args.warmup):
            if three_trivial_steps(i) != expected(i):
                raise RuntimeError("three_trivial_steps returned a wrong result")
        stmts = _count_statements(10)
        latencies: list[float] = []
        perf = time.perf_counter
        c0, t0 = _cpu_seconds(), perf()
        for i in range(args.n):
            s0 = perf()
            result = three_trivial_steps(i)
            latencies.append(perf() - s0)
            if result != expected(i):
                raise RuntimeError("three_trivial_steps returned a wrong result")
        seconds = perf() - t0
        cpu = _cpu_seconds() - c0
    finally:
        DBOS.destroy()
    latencies.sort()
    return {
        "n": args.n,
        "wps": args.n / seconds,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "cpu_ms": cpu / args.n * 1000,
        "statements": stmts,
    }


def worker(args: argparse.Namespace) -> dict[str, Any]:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _launch(args.url, "bench-worker")
    try:
        DBOS.register_queue(args.queue, polling_interval_sec=args.poll)
        # DBOS's queue manager starts one polling thread per registered queue (it looks
        # for new queues every second); the worker is ready once that thread exists.
        deadline = time.monotonic() + 30
        wanted = f"queue-worker-{args.queue}"
        while not any(t.name == wanted for t in threading.enumerate()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no polling thread for queue {args.queue} after 30 s")
            time.sleep(0.05)
        print("READY", flush=True)
        stop.wait()
    finally:
        DBOS.destroy()
    return {"cpu_s": _cpu_seconds()}


def enqueue(args: argparse.Namespace) -> dict[str, Any]:
    client = DBOSClient(system_database_url=args.url)
    try:
        options: Any = {"queue_name": args.queue, "workflow_name": WORKFLOW_NAME}
        handles = [client.enqueue(options, -1 - i) for i in range(args.warmup)]
        for i, handle in enumerate(handles):
            if handle.get_result() != expected(-1 - i):
                raise RuntimeError("a warm-up run returned a wrong result")
        print("WARM", flush=True)
        c0 = _cpu_seconds()
        t0 = time.time()
        for i in range(args.n):
            client.enqueue(options, i)
        t1 = time.time()
        cpu = _cpu_seconds() - c0
    finally:
        client.destroy()
    return {"t0": t0, "t1": t1, "enqueue_cpu_ms": cpu / args.n * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", required=True, help="system database URL")
    parser.add_argument("--n", type=int, default=2000, help="timed calls or enqueues")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls or runs first")
    parser.add_argument("--queue", default="bench", help="the queue's name")
    parser.add_argument("--poll", type=float, default=0.05, help="queue polling interval")
    parser.add_argument("command", choices=("direct", "worker", "enqueue"))
    args = parser.parse_args()
    result = {"direct": direct, "worker": worker, "enqueue": enqueue}[args.command](args)
    result["dbos"] = _dbos_version()
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)


def _dbos_version() -> str:
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    sys.exit(main())
