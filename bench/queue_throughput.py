"""Benchmark: drain throughput of a queue by ``manage.py runscheduler`` worker processes.

Run from the repository root (PostgreSQL only)::

    .venv/bin/python bench/queue_throughput.py [--n 5000] [--processes 1,2,4] [--concurrency 8]

The script creates a scratch database ``durable_bench_<pid>`` (``--pg-dsn``, default
``host=127.0.0.1 port=5432 user=postgres``), migrates it and configures Django in-process
with the settings its workers use (``bench/benchapp/settings.py``). For each process count
it empties the tables, enqueues ``--n`` runs of ``three_trivial_steps`` (``x + 1``,
``x * 2``, ``x - 3``; ``bench/benchapp/workflows.py``) on the queue ``bench`` (no limits),
times single-row INSERT commits with 8 concurrent clients (``pgbench`` with a one-INSERT
script if it is installed, else 8 psycopg threads), then starts that many
``manage.py runscheduler --batch --no-scheduler --queues bench`` processes at once and
waits until they have drained the queue and exited.

- **runs/s** comes from the rows: ``n / (max(completed_at) - min(started_at))``
  (``started_at`` is set at claim), so process start-up does not count. The script checks
  that every run ended ``SUCCESS`` and that there are exactly ``3 n`` step rows.
- **commits/run** is measured: write transactions, i.e. transaction ids the server assigned
  (``pg_snapshot_xmax(pg_current_snapshot())`` before and after), over the enqueue and over
  the drain, divided by ``n``. Transaction ids are cluster-wide, so the script also prints
  what other databases committed meanwhile; that should be 0 on an idle server. It prints
  the database's ``xact_commit`` delta per run too, which also counts read-only
  transactions.
- **limit runs/s** = INSERT commits/s / commits per run: the most runs per second this
  machine allows an engine that commits every checkpoint on its own; **ratio** = runs/s /
  limit.
- Where the time goes, per run: CPU of the workers (``getrusage`` of the children), of
  PostgreSQL (the postmaster with its children, from ``/proc``, when the server runs on
  this machine) and of anything else on the machine (``/proc/stat``; it should be near 0),
  and the database sessions the workers opened (``pg_stat_database.sessions``).

The workers use Django's default ``CONN_MAX_AGE`` of 0 unless ``--conn-max-age`` says
otherwise (``none``: persistent connections).

``--profile`` runs the workers under cProfile (one profile per thread, see
``bench/benchapp/profiling.py``) and prints the merged top functions to stderr; the
figures of a profiled run are not comparable with unprofiled ones.

``--compare-dbos`` measures enqueue-and-drain side by side with DBOS Transact 3.4 instead:
``--n`` runs (default 2000) enqueued from one process while one worker process drains
them, both workers polling every ``--poll-interval`` seconds (default 0.05), ours with
persistent connections unless ``--conn-max-age`` says otherwise; ours and DBOS in turn,
``--compare-rounds`` times each, with the median ratio (``bench/_queue_compare.py``).

This is a benchmark, not a test: it reports figures from one run and never fails on them.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import pstats
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

from bench._scratch import SCRATCH_DATABASE, configure_django, scratch_database  # noqa: E402

PROBE_TABLE = "durable_bench_insert_probe"
PROBE_CLIENTS = 8
SETTINGS_MODULE = "bench.benchapp.settings"
WORKER_TIMEOUT = 900.0


def _query(sql: str, params: list[Any] | None = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if cursor.description else None


def _counters() -> dict[str, float]:
    """Server and machine counters read before and after each phase."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
        xid = cursor.fetchone()[0]
        cursor.execute(
            "SELECT datname = current_database(), coalesce(datname, ''), xact_commit, sessions "
            "FROM pg_stat_database"
        )
        rows = cursor.fetchall()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = next(row for row in rows if row[0])
    counters = {
        "xid": float(xid),
        "xact": float(mine[2]),
        "sessions": float(mine[3]),
        **{f"db:{row[1]}": float(row[2]) for row in rows if not row[0]},
        "children_cpu": usage.ru_utime + usage.ru_stime,
        "time": time.monotonic(),
    }
    try:  # Linux, server on this machine: CPU of the machine and of PostgreSQL (jiffies)
        fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        counters["cpu_total"] = sum(fields[:8])
        counters["cpu_busy"] = counters["cpu_total"] - fields[3] - fields[4]
        counters["postgres_cpu"] = _postgres_jiffies(_query("SELECT pg_backend_pid()"))
    except (OSError, ValueError, IndexError):
        pass
    return counters


def _proc_stat(pid: int | str) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ..., utime is [11]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _postgres_jiffies(backend_pid: int) -> float:
    """CPU PostgreSQL has used: the postmaster, its live children and its reaped ones."""
    postmaster = _proc_stat(backend_pid)[1]
    own = _proc_stat(postmaster)
    total = sum(float(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            child = _proc_stat(pid)
        except OSError:
            continue  # gone meanwhile
        if child[1] == postmaster:
            total += float(child[11]) + float(child[12])
    return total


def _delta(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def _others(before: dict[str, float], after: dict[str, float]) -> float:
    """Transactions committed in other databases (a dropped one counts all it had)."""
    keys = {k for k in (*before, *after) if k.startswith("db:")}
    return sum(abs(_delta(before, after, k)) for k in keys)


def _wait_for_backends_gone() -> None:
    """Wait until no other session is on the scratch database (their stats are flushed)."""
    deadline = time.monotonic() + 10
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    while _query(sql) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------- INSERT commit probe


def _probe_pgbench(pgbench: str, dsn: str, seconds: float) -> float:
    """Single-row INSERT commits/s of ``pgbench`` with 8 clients into the probe table."""
    params = dict(part.split("=", 1) for part in dsn.split())
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(f"INSERT INTO {PROBE_TABLE} (n) VALUES (1);\n")  # noqa: S608
    env = {**os.environ, "PGPASSWORD": params.get("password", "")}
    argv = [pgbench, "-n", "-c", str(PROBE_CLIENTS), "-j", str(os.cpu_count() or 1)]
    argv += ["-T", str(round(seconds)), "-f", script.name]
    argv += ["-h", params.get("host", "127.0.0.1"), "-p", params.get("port", "5432")]
    argv += ["-U", params.get("user", "postgres"), SCRATCH_DATABASE]
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"^tps = ([0-9.]+)", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"could not read pgbench's tps from:\n{out}")
    return float(match.group(1))


def _probe_threads(dsn: str, seconds: float) -> float:
    """The same with 8 psycopg threads, each in autocommit on its own connection."""
    import psycopg

    counts = [0] * PROBE_CLIENTS
    start = threading.Barrier(PROBE_CLIENTS + 1)
    deadline: list[float] = []

    def client(index: int) -> None:
        with psycopg.connect(dsn, dbname=SCRATCH_DATABASE, autocommit=True) as conn:
            start.wait()
            while time.monotonic() < deadline[0]:
                conn.execute(f"INSERT INTO {PROBE_TABLE} (n) VALUES (1)")  # noqa: S608
                counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(PROBE_CLIENTS)]
    for thread in threads:
        thread.start()
    deadline.append(time.monotonic() + seconds)
    t0 = time.monotonic()
    start.wait()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - t0)


# ---------------------------------------------------------------- one batch


def _enqueue(n: int) -> float:
    from bench.benchapp.workflows import BENCH_QUEUE, three_trivial_steps

    t0 = time.perf_counter()
    for i in range(n):
        BENCH_QUEUE.enqueue(three_trivial_steps, i)
    return n / (time.perf_counter() - t0)


def _start_workers(processes: int, args: argparse.Namespace, logs: Path) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    if args.profile:
        env["DURABLE_BENCH_PROFILE"] = str(logs)
    workers = []
    for index in range(processes):
        argv = [sys.executable, str(REPO_ROOT / "manage.py"), "runscheduler"]
        argv += ["--settings", SETTINGS_MODULE, "--queues", "bench", "--batch", "--no-scheduler"]
        argv += ["--concurrency", str(args.concurrency), "--verbosity", str(args.verbosity)]
        argv += ["--executor-id", f"bench-{processes}p-{index}"]
        path = logs / f"worker-{processes}p-{index}.log"
        with path.open("wb") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        workers.append((proc, path))
    return workers


def _wait_for_workers(workers: list[Any]) -> None:
    """Wait until every worker has exited; kill the ones still running on any error."""
    try:
        for proc, path in workers:
            code = proc.wait(timeout=WORKER_TIMEOUT)
            if code != 0:
                tail = path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker {proc.args[-1]} exited with {code}:\n{tail}")
    finally:
        for proc, _ in workers:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()


def _check_and_time(n: int) -> tuple[float, dict[str, int]]:
    """Check the batch's rows; return its drain window in seconds and runs per executor."""
    from django.db.models import Count, Max, Min

    from django_durable.models import RunStatus, StepOutput, WorkflowRun

    runs = WorkflowRun.objects.filter(queue_name="bench")
    succeeded = runs.filter(status=RunStatus.SUCCESS).count()
    steps = StepOutput.objects.count()
    pairs = StepOutput.objects.values("run_id", "step_number").distinct().count()
    print(f"  check: {succeeded}/{n} runs SUCCESS, {steps} step rows ({pairs} distinct)")
    if succeeded != n or steps != 3 * n or pairs != steps:
        raise RuntimeError("the batch did not end as expected (see the check line)")
    window = runs.aggregate(start=Min("started_at"), end=Max("completed_at"))
    per_executor = dict(runs.values_list("executor_id").annotate(c=Count("pk")).order_by())
    return (window["end"] - window["start"]).total_seconds(), per_executor


def run_batch(processes: int, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    from django.db import connection

    from django_durable.models import Executor, StepOutput, WorkflowRun

    n = args.n
    tables = (m._meta.db_table for m in (StepOutput, WorkflowRun, Executor))
    _query(f"TRUNCATE {', '.join(map(connection.ops.quote_name, tables))}")
    _wait_for_backends_gone()
    c0 = _counters()
    enqueue_rate = _enqueue(n)
    c1 = _counters()
    _query(f"ANALYZE {connection.ops.quote_name(WorkflowRun._meta.db_table)}")
    _query(f"TRUNCATE {PROBE_TABLE}")
    p0 = _counters()
    if args.pgbench:
        insert_cps = _probe_pgbench(args.pgbench, args.pg_dsn, args.probe_seconds)
    else:
        insert_cps = _probe_threads(args.pg_dsn, args.probe_seconds)
    _wait_for_backends_gone()
    p1 = _counters()
    connection.close()  # no idle session of ours during the drain

    c2 = _counters()
    _wait_for_workers(_start_workers(processes, args, logs))
    _wait_for_backends_gone()
    c3 = _counters()

    window, per_executor = _check_and_time(n)
    enqueue_commits = _delta(c0, c1, "xid") / n
    drain_commits = _delta(c2, c3, "xid") / n
    commits = enqueue_commits + drain_commits
    runs_per_s = n / window
    limit = insert_cps / commits
    jiffy_ms = 1000 / os.sysconf("SC_CLK_TCK") / n  # one jiffy per run, in ms
    busy = _delta(c2, c3, "cpu_busy") / max(_delta(c2, c3, "cpu_total"), 1.0)
    jiffy_s = 1 / os.sysconf("SC_CLK_TCK")
    probe_else = (
        (_delta(p0, p1, "cpu_busy") - _delta(p0, p1, "postgres_cpu")) * jiffy_s
        - _delta(p0, p1, "children_cpu")
    ) / max(_delta(p0, p1, "cpu_total") * jiffy_s, 1e-9)
    return {
        "processes": processes,
        "runs_per_s": runs_per_s,
        "window": window,
        "wall": _delta(c2, c3, "time"),
        "enqueue_rate": enqueue_rate,
        "enqueue_commits": enqueue_commits,
        "drain_commits": drain_commits,
        "commits": commits,
        "xact_per_run": (_delta(c0, c1, "xact") + _delta(c2, c3, "xact")) / n,
        "others": _others(c0, c1) + _others(c2, c3),
        "worker_cpu_ms": _delta(c2, c3, "children_cpu") / n * 1000,
        "postgres_cpu_ms": _delta(c2, c3, "postgres_cpu") * jiffy_ms,
        "machine_cpu_ms": _delta(c2, c3, "cpu_busy") * jiffy_ms,
        "sessions": _delta(c2, c3, "sessions"),
        "busy": busy,
        "insert_cps": insert_cps,
        "probe_else": probe_else,
        "limit": limit,
        "ratio": runs_per_s / limit,
        "per_executor": per_executor,
    }


def _print_profiles(logs: Path, processes: int, n: int) -> None:
    for kind in ("runs", "loop"):
        files = sorted(glob.glob(str(logs / f"{kind}-*.prof")))
        if not files:
            continue
        print(f"\n--- cProfile, {processes} process(es), {kind} ({n} runs) ---", file=sys.stderr)
        stats = pstats.Stats(*files, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        for name in files:
            os.unlink(name)


# ---------------------------------------------------------------- report


def _server_info() -> dict[str, str]:
    import psycopg

    info = {"psycopg": psycopg.__version__}
    for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method"):
        info[name] = str(_query(f"SHOW {name}"))
    return info


def _table(results: list[dict[str, Any]]) -> str:
    header = ("processes", "runs/s", "commits/run", "insert commits/s", "limit runs/s", "ratio")
    rows = [header]
    for r in results:
        rows.append(
            (
                str(r["processes"]),
                f"{r['runs_per_s']:.0f}",
                f"{r['commits']:.2f}",
                f"{r['insert_cps']:.0f}",
                f"{r['limit']:.0f}",
                f"{r['ratio']:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--n",
        type=int,
        help="runs enqueued per process count (default 5000; 2000 with --compare-dbos)",
    )
    parser.add_argument("--processes", default="1,2,4", help="comma-separated process counts")
    parser.add_argument("--concurrency", type=int, default=8, help="runscheduler --concurrency")
    parser.add_argument("--verbosity", type=int, default=0, help="runscheduler --verbosity")
    parser.add_argument(
        "--conn-max-age",
        help="the workers' CONN_MAX_AGE: seconds, or 'none' for persistent "
        "(default 0; none with --compare-dbos)",
    )
    parser.add_argument(
        "--probe-seconds", type=float, default=10.0, help="length of each INSERT probe"
    )
    parser.add_argument(
        "--pgbench",
        default=shutil.which("pgbench")
        or next(iter(glob.glob("/usr/lib/postgresql/*/bin/pgbench")), None),
        help="pgbench executable (default: found on PATH; empty: use psycopg threads)",
    )
    parser.add_argument(
        "--pg-dsn",
        default="host=127.0.0.1 port=5432 user=postgres",
        help="libpq DSN of the PostgreSQL server (without dbname)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the workers (to stderr)")
    parser.add_argument(
        "--compare-dbos",
        action="store_true",
        help="alternate enqueue-and-drain runs of ours and of DBOS Transact 3.4 (installed "
        "into .venvs/dbos-3.4 when missing), one enqueuing and one worker process each, and "
        "print the median ratio",
    )
    parser.add_argument(
        "--compare-rounds", type=int, default=3, help="runs of each side with --compare-dbos"
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.05,
        help="with --compare-dbos: both workers' polling interval in seconds (default 0.05)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="with --compare-dbos: untimed runs enqueued and awaited first (default 20)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # run finally
    if args.n is None:
        args.n = 2000 if args.compare_dbos else 5000
    if args.conn_max_age is None:
        args.conn_max_age = "none" if args.compare_dbos else "0"
    counts = [int(p) for p in args.processes.split(",") if p.strip()]
    if args.n < 1 or args.concurrency < 1 or not counts or min(counts) < 1:
        parser.error("--n, --concurrency and every process count must be >= 1")
    if args.compare_rounds < 1 or args.warmup < 0 or args.poll_interval <= 0:
        parser.error("--compare-rounds must be >= 1, --warmup >= 0, --poll-interval > 0")

    if args.compare_dbos:
        if args.profile:
            parser.error("--profile and --compare-dbos do not go together")
        from bench import _queue_compare

        os.environ["DURABLE_BENCH_POLL_INTERVAL"] = repr(args.poll_interval)
        configure_django(SETTINGS_MODULE, args.pg_dsn, conn_max_age=args.conn_max_age)
        print(f"Python {platform.python_version()}, Django {django.get_version()}; ", end="")
        print(f"{os.cpu_count()} cores ({platform.machine()}); CONN_MAX_AGE {args.conn_max_age}")
        _queue_compare.compare(args)
        return

    configure_django(SETTINGS_MODULE, args.pg_dsn, conn_max_age=args.conn_max_age)
    from django.core.management import call_command

    results = []
    with (
        scratch_database(args.pg_dsn),
        tempfile.TemporaryDirectory(prefix="durable_bench_", ignore_cleanup_errors=True) as tmp,
    ):
        logs = Path(tmp)
        call_command("migrate", verbosity=0, interactive=False)
        _query(f"CREATE TABLE {PROBE_TABLE} (id bigserial PRIMARY KEY, n integer NOT NULL)")
        info = _server_info()
        print(f"Python {platform.python_version()}, Django {django.get_version()}, ", end="")
        print(f"psycopg {info['psycopg']}; {os.cpu_count()} cores ({platform.machine()})")
        print(
            f"PostgreSQL {info['server_version']}: synchronous_commit="
            f"{info['synchronous_commit']}, fsync={info['fsync']}, "
            f"wal_sync_method={info['wal_sync_method']}"
        )
        probe = f"pgbench ({args.pgbench})" if args.pgbench else "psycopg threads"
        print(
            f"{args.n} runs per process count; runscheduler --batch --no-scheduler --concurrency "
            f"{args.concurrency} --verbosity {args.verbosity}; CONN_MAX_AGE "
            f"{settings.DATABASES['default']['CONN_MAX_AGE']}; INSERT probe: {probe}, "
            f"{PROBE_CLIENTS} clients, {args.probe_seconds:g} s"
        )
        for processes in counts:
            print(f"\n{processes} process(es):")
            r = run_batch(processes, args, logs)
            results.append(r)
            spread = ", ".join(f"{k}: {v}" for k, v in sorted(r["per_executor"].items()))
            print(f"  runs per executor: {spread}")
            print(
                f"  drain window {r['window']:.2f} s (workers ran {r['wall']:.2f} s wall); "
                f"enqueue {r['enqueue_rate']:.0f} runs/s; INSERT probe {r['insert_cps']:.0f} "
                f"commits/s with anything else at {r['probe_else'] * 100:.0f}% of the machine"
            )
            print(
                f"  write commits per run: enqueue {r['enqueue_commits']:.3f} + drain "
                f"{r['drain_commits']:.3f} = {r['commits']:.3f}; all transactions "
                f"(xact_commit) {r['xact_per_run']:.2f}; other databases committed "
                f"{r['others']:.0f} meanwhile"
            )
            other = r["machine_cpu_ms"] - r["worker_cpu_ms"] - r["postgres_cpu_ms"]
            print(
                f"  CPU per run: workers {r['worker_cpu_ms']:.2f} ms, PostgreSQL "
                f"{r['postgres_cpu_ms']:.2f} ms, anything else {other:.2f} ms "
                f"({r['busy'] * 100:.0f}% of {os.cpu_count()} cores busy during the drain); "
                f"{r['sessions']:.0f} database sessions opened by the workers"
            )
            if args.profile:
                _print_profiles(logs, processes, args.n)
    print()
    print(_table(results))
    print()
    print(
        "runs/s = n / (max(completed_at) - min(started_at)); limit runs/s = insert "
        "commits/s / commits per run; ratio = runs/s / limit (aim: >= 0.25 with 2 processes)"
    )


if __name__ == "__main__":
    if os.environ.get("DURABLE_BENCH_ENQUEUER"):  # the enqueuing process of --compare-dbos
        from bench._queue_compare import enqueuer_main

        enqueuer_main()
    else:
        main()
