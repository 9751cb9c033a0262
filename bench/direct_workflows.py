"""Benchmark: direct (in-thread) calls of a workflow with three trivial steps.

Run from the repository root::

    .venv/bin/python bench/direct_workflows.py [--n 2000] [--databases postgres,sqlite]

For each database the script starts a fresh worker process (this file, with the backend
in ``DURABLE_BENCH_WORKER``) that configures Django against a new scratch database, runs
``migrate``, warms up, and then times ``--n`` sequential calls of ``three_trivial_steps``
(each call is a new run), in ``--rounds`` blocks. After each block it times as many
single-row INSERT commits (autocommit, one client, the same Django connection) into a tiny
scratch table as the block of workflows committed, so both rates see the same machine.
That INSERT rate divided by the commits one workflow needs is the most workflows per
second this machine allows an engine that commits each checkpoint on its own; the script
prints the measured rate as a ratio of that limit.

``--compare-dbos`` runs the same workload side by side with DBOS Transact 3.4 instead, on
PostgreSQL: ours and DBOS in turn, ``--compare-rounds`` times each (default 3), each run in
a new process and a new scratch database (DBOS's is ``dbos_bench_<pid>``; its program is
``bench/dbos_program.py``, run in ``.venvs/dbos-3.4``, which the script creates when
missing), and prints every round and the median ratio of the two rates (``bench/_compare.py``).

This is a benchmark, not a test: it reports figures from one run and never fails on them.

PostgreSQL: ``--pg-dsn`` (default ``host=127.0.0.1 port=5432 user=postgres``); a scratch
database ``durable_bench_<pid>`` is created and dropped. SQLite: a file in a new temporary
directory, with the test suite's OPTIONS (IMMEDIATE transactions, a 30 s busy timeout, WAL)
and Django's default synchronous mode (Django sets none, so SQLite's compiled default
applies; the script prints it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

from bench._scratch import scratch_database  # noqa: E402

WORKER_ENV = "DURABLE_BENCH_WORKER"
"""JSON spec of the database a worker process benchmarks; unset in the parent process."""

PROBE_TABLE = "durable_bench_insert_probe"
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")
SQLITE_OPTIONS: dict[str, Any] = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL;",
}


def _database_settings(spec: dict[str, Any] | None) -> dict[str, Any]:
    if spec is None:
        return {}  # parent process: never connects
    if spec["backend"] == "sqlite":
        return {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": spec["path"],
                "OPTIONS": dict(SQLITE_OPTIONS),
            }
        }
    params = _parse_dsn(spec["dsn"])
    return {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": spec["name"],
            "USER": params.get("user", "postgres"),
            "PASSWORD": params.get("password", ""),
            "HOST": params.get("host", "127.0.0.1"),
            "PORT": params.get("port", "5432"),
        }
    }


def _parse_dsn(dsn: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in dsn.split())


def _configure_django() -> None:
    raw = os.environ.get(WORKER_ENV)
    spec = json.loads(raw) if raw else None
    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-durable-bench-not-secret",  # noqa: S106
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django_durable",
        ],
        DATABASES=_database_settings(spec),
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DURABLE={},
    )
    django.setup()


_configure_django()

import django_durable as durable  # noqa: E402

# ---------------------------------------------------------------- the workload


@durable.step()
def add_one(x: int) -> int:
    return x + 1


@durable.step()
def double(x: int) -> int:
    return x * 2


@durable.step()
def subtract_three(x: int) -> int:
    return x - 3


@durable.workflow()
def three_trivial_steps(x: int) -> int:
    return subtract_three(double(add_one(x)))


# ---------------------------------------------------------------- worker process


def _statements(calls: int) -> dict[str, Any]:
    """Statements (and commits) per workflow, captured over ``calls`` calls."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    in_atomic: list[bool] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        in_atomic.append(connection.in_atomic_block)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper), CaptureQueriesContext(connection) as captured:
        for i in range(calls):
            three_trivial_steps(i)
    verbs = [q["sql"].lstrip().split(None, 1)[0].upper() for q in captured.captured_queries]
    if len(verbs) != len(in_atomic):
        raise RuntimeError("statement capture and execute wrapper disagree")
    breakdown: dict[str, int] = {}
    for verb in verbs:
        breakdown[verb] = breakdown.get(verb, 0) + 1
    # In autocommit each write statement commits on its own; writes inside one atomic
    # block (consecutive statements with in_atomic_block set) commit together.
    commits = 0
    block_has_write = False
    previous_atomic = False
    for verb, atomic in zip(verbs, in_atomic, strict=True):
        if previous_atomic and not atomic and block_has_write:
            commits += 1
        if atomic and not previous_atomic:
            block_has_write = False
        if atomic:
            block_has_write = block_has_write or verb in WRITE_VERBS
        elif verb in WRITE_VERBS:
            commits += 1
        previous_atomic = atomic
    if previous_atomic and block_has_write:
        commits += 1
    return {
        "calls": calls,
        "statements": len(verbs) / calls,
        "breakdown": {verb: count / calls for verb, count in sorted(breakdown.items())},
        "commits": commits / calls,
    }


class InsertProbe:
    """Single-row INSERTs in autocommit (one commit each) into a tiny table, one client."""

    def __init__(self) -> None:
        self._next_id = 1
        self.reset()

    def reset(self) -> None:
        """Forget the counts so far (after a warm-up)."""
        self.inserts = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def run(self, count: int) -> None:
        from django.db import connection

        sql = f"INSERT INTO {PROBE_TABLE} (id, n) VALUES (%s, %s)"  # noqa: S608
        perf, cpu = time.perf_counter, time.process_time
        with connection.cursor() as cursor:
            c0, t0 = cpu(), perf()
            for row_id in range(self._next_id, self._next_id + count):
                cursor.execute(sql, [row_id, row_id])
            self.seconds += perf() - t0
            self.cpu_seconds += cpu() - c0
        self._next_id += count
        self.inserts += count

    @property
    def per_second(self) -> float:
        return self.inserts / self.seconds


def _server_info() -> dict[str, str]:
    from django.db import connection

    info: dict[str, str] = {"vendor": connection.vendor}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            import psycopg

            info["psycopg"] = psycopg.__version__
            for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method"):
                cursor.execute(f"SHOW {name}")
                info[name] = str(cursor.fetchone()[0])
        else:
            import sqlite3

            info["sqlite_version"] = sqlite3.sqlite_version
            cursor.execute("PRAGMA journal_mode")
            info["journal_mode"] = str(cursor.fetchone()[0])
            cursor.execute("PRAGMA synchronous")
            level = int(cursor.fetchone()[0])
            names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            info["synchronous"] = f"{names.get(level, level)} ({level})"
    return info


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = math.ceil(round(fraction * len(sorted_values), 6))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Benchmark the configured database: workflow blocks interleaved with probe blocks."""
    from django.core.management import call_command
    from django.db import connection

    from django_durable.models import WorkflowRun

    n, warmup, rounds = spec["n"], spec["warmup"], spec["rounds"]
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {PROBE_TABLE} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    info = _server_info()

    for i in range(warmup):
        if three_trivial_steps(i) != 2 * (i + 1) - 3:
            raise RuntimeError("three_trivial_steps returned a wrong result")
    stmts = _statements(10)
    commits = stmts["commits"]
    probe = InsertProbe()
    if spec["probe"]:
        probe.run(warmup)
        probe.reset()

    # Alternate blocks of workflow calls and of probe INSERTs (as many commits as the
    # block of workflows made), so a drift of the machine's speed affects both alike.
    latencies: list[float] = []
    wf_seconds = wf_cpu_seconds = 0.0
    profiler = None
    if spec["profile"]:
        import cProfile

        profiler = cProfile.Profile()
    perf, cpu = time.perf_counter, time.process_time
    block = -(-n // rounds)
    done = 0
    while done < n:
        size = min(block, n - done)
        if profiler is not None:
            profiler.enable()
        c0, t0 = cpu(), perf()
        for i in range(done, done + size):
            s0 = perf()
            three_trivial_steps(i)
            latencies.append(perf() - s0)
        wf_seconds += perf() - t0
        wf_cpu_seconds += cpu() - c0
        if profiler is not None:
            profiler.disable()
        if spec["probe"]:
            probe.run(round(size * commits))
        done += size

    finished = WorkflowRun.objects.filter(status="SUCCESS").count()
    expected = warmup + stmts["calls"] + n
    if finished != expected:
        raise RuntimeError(f"expected {expected} finished runs, found {finished}")

    if profiler is not None:
        import pstats

        print(f"\n--- cProfile of the timed calls ({spec['backend']}) ---", file=sys.stderr)
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)

    latencies.sort()
    wps = n / wf_seconds
    limit_wps = probe.per_second / commits if spec["probe"] else math.nan
    return {
        "backend": spec["backend"],
        "info": info,
        "n": n,
        "wps": wps,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "cpu_ms": wf_cpu_seconds / n * 1000,
        "statements": stmts,
        "probe_inserts": probe.inserts,
        "probe_seconds": probe.seconds,
        "probe_cpu_ms": probe.cpu_seconds / probe.inserts * 1000 if spec["probe"] else math.nan,
        "insert_cps": probe.per_second if spec["probe"] else math.nan,
        "limit_wps": limit_wps,
        "ratio": wps / limit_wps,
    }


def _worker_main() -> None:
    spec = json.loads(os.environ[WORKER_ENV])
    try:
        result = worker(spec)
    finally:
        from django.db import connections

        connections.close_all()
    print(json.dumps(result))


# ---------------------------------------------------------------- parent process


def _run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, WORKER_ENV: json.dumps(spec)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{spec['backend']} worker failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_backend(backend: str, args: argparse.Namespace, *, probe: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "backend": backend,
        "n": args.n,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "profile": args.profile,
        "probe": probe,
    }
    if backend == "postgres":
        with scratch_database(args.pg_dsn) as name:
            spec.update(dsn=args.pg_dsn, name=name)
            return _run_worker(spec)
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="durable_bench_")
        spec["path"] = str(Path(tmp) / "bench.sqlite3")
        try:
            return _run_worker(spec)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise SystemExit(f"unknown database {backend!r} (use postgres and/or sqlite)")


def _table(results: list[dict[str, Any]]) -> str:
    header = (
        "backend",
        "workflows/s",
        "p50 ms",
        "p99 ms",
        "statements/workflow",
        "insert commits/s",
        "limit workflows/s",
        "ratio",
    )
    rows = [header]
    for r in results:
        rows.append(
            (
                r["backend"],
                f"{r['wps']:.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['statements']['statements']:.1f}",
                f"{r['insert_cps']:.0f}",
                f"{r['limit_wps']:.0f}",
                f"{r['ratio']:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _breakdown(stmts: dict[str, Any]) -> str:
    parts = [f"{verb} x{count:g}" for verb, count in stmts["breakdown"].items()]
    return ", ".join(parts) + f"; commits {stmts['commits']:g}"


def compare_dbos(args: argparse.Namespace) -> None:
    """Ours and DBOS Transact 3.4 in turn on PostgreSQL, each in a fresh process and a fresh
    scratch database per round, ``--compare-rounds`` rounds; prints the median ratio."""
    from bench import _compare

    python, version = _compare.dbos_python()
    print(
        f"Side by side with DBOS Transact {version} ({python}): {args.n} sequential calls of "
        f"the 3-step workflow after {args.warmup} warm-up calls, PostgreSQL, "
        f"{args.compare_rounds} rounds of ours then DBOS, each in a new process and database"
    )
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")

    def ours() -> dict[str, Any]:
        return run_backend("postgres", args, probe=False)

    def dbos() -> dict[str, Any]:
        with scratch_database(args.pg_dsn, _compare.DBOS_DATABASE) as name:
            url = _compare.dbos_url(args.pg_dsn, name)
            argv = ["--url", url, "--n", str(args.n), "--warmup", str(args.warmup), "direct"]
            return _compare.run_dbos(python, *argv)

    pairs = _compare.alternate(args.compare_rounds, ours, dbos, "wps")
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}\n")

    def extra(r: Any) -> str:
        d = r.details
        return (
            f"p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms, client CPU "
            f"{d['cpu_ms']:.2f} ms/workflow; {_breakdown(d['statements'])}"
        )

    _compare.report(pairs, "workflows/s", extra)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=2000, help="timed calls per database")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first")
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="blocks of workflow calls, each followed by a block of probe INSERTs",
    )
    parser.add_argument(
        "--databases", default="postgres,sqlite", help="comma-separated: postgres,sqlite"
    )
    parser.add_argument(
        "--pg-dsn",
        default="host=127.0.0.1 port=5432 user=postgres",
        help="libpq DSN of the PostgreSQL server (without dbname)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the timed loop (to stderr)"
    )
    parser.add_argument(
        "--compare-dbos",
        action="store_true",
        help="PostgreSQL only: alternate runs of ours and of DBOS Transact 3.4 (installed "
        "into .venvs/dbos-3.4 when missing) and print the median ratio",
    )
    parser.add_argument(
        "--compare-rounds", type=int, default=3, help="runs of each side with --compare-dbos"
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.warmup < 0 or args.rounds < 1 or args.compare_rounds < 1:
        parser.error("--n, --rounds and --compare-rounds must be >= 1, --warmup >= 0")
    backends = [b.strip() for b in args.databases.split(",") if b.strip()]

    if args.compare_dbos:
        if args.profile:
            parser.error("--profile and --compare-dbos do not go together")
        print(f"Python {platform.python_version()}, Django {django.get_version()}, ", end="")
        print(f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()})")
        compare_dbos(args)
        return

    print(f"Python {platform.python_version()}, Django {django.get_version()}, ", end="")
    print(f"{os.cpu_count()} cores ({platform.machine()}, {platform.system()})")
    print(
        f"{args.n} sequential calls per database after {args.warmup} warm-up calls, "
        f"in {args.rounds} blocks alternating with blocks of probe INSERTs"
    )
    results = []
    for backend in backends:
        r = run_backend(backend, args)
        results.append(r)
        info = r["info"]
        if r["backend"] == "postgres":
            print(
                f"PostgreSQL {info['server_version']}: synchronous_commit="
                f"{info['synchronous_commit']}, fsync={info['fsync']}, "
                f"wal_sync_method={info['wal_sync_method']} (psycopg {info['psycopg']})"
            )
        else:
            print(
                f"SQLite {info['sqlite_version']}: journal_mode={info['journal_mode']}, "
                f"synchronous={info['synchronous']} (Django's default: not set)"
            )
        print(
            f"  per workflow: {_breakdown(r['statements'])}; mean latency "
            f"{r['mean_ms']:.2f} ms, client CPU {r['cpu_ms']:.2f} ms"
        )
        print(
            f"  probe: {r['probe_inserts']} single-row INSERT commits in "
            f"{r['probe_seconds']:.2f} s, client CPU {r['probe_cpu_ms']:.3f} ms each"
        )
    print()
    print(_table(results))
    print()
    print(
        "limit workflows/s = insert commits/s / commits per workflow; "
        "ratio = workflows/s / limit (aim: >= 0.5)"
    )


if __name__ == "__main__":
    if os.environ.get(WORKER_ENV):
        _worker_main()
    else:
        main()
