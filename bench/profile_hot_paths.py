"""Profile of the engine's hot paths on PostgreSQL: a direct workflow, an enqueue, a queued run.

Run from the repository root::

    .venvs/3.11-django5/bin/python bench/profile_hot_paths.py [--n 2000] [--parts ...]

The workload is the benchmarks' ``three_trivial_steps`` (``bench/benchapp/workflows.py``),
on a scratch database ``durable_bench_<pid>`` with persistent connections; ``--parts``
picks among ``direct`` (a direct call, a new run each), ``enqueue`` (``Queue.enqueue``
with no worker running) and ``worker`` (queued runs executed by ``runscheduler``).

- **round trips and commits** per operation, exact, from libpq protocol traces
  (``bench/benchapp/tracing.py``): every statement, ``BEGIN``, ``COMMIT`` and ``SAVEPOINT``;
  for ``worker``, of every connection of a ``runscheduler --batch`` draining 200 runs;
- **wall time and client CPU** per operation (``time.thread_time``) over ``--n`` operations,
  and the wall time spent inside statements (an ``execute_wrapper``), by statement;
- **how much is the WAL flush**: the same operations with ``synchronous_commit = off`` on
  the session (a diagnosis only: the engine must not turn durability off);
- **where the client CPU goes**: py-spy sampling the thread that holds the GIL (so C code
  and the kernel, which run without it, are not in its total), its samples summed into
  categories (psycopg, Django's cursor wrappers, the ORM, signals, serialisation, the
  engine, ...) by the innermost Python frame, and by thread and outermost engine
  function; then a cProfile on the CPU clock for exact call counts of the top functions
  (its cost per call inflates code made of many small calls);
- for ``enqueue``, what-if variants written with plain SQL on the same row, to size the
  gain of a one-round-trip enqueue;
- for ``worker``, a backlog of ``--n`` runs committed at once into a warm, idle
  ``runscheduler`` (``--concurrency``, polling every ``--poll-interval`` seconds, default
  0.05, and woken by ``NOTIFY``): the drain rate and the worker's CPU per run, then the same
  under py-spy; and the latency from enqueue to claim and from claim to completion for
  runs enqueued one every 20 ms, and for ``--n`` runs enqueued in a row.

py-spy (``pip install py-spy`` into the virtualenv) slows the process it samples: the
rates measured under it are not comparable.
It is a diagnosis, not a test: it prints figures from one run and never fails on them.
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench._scratch import configure_django, scratch_database  # noqa: E402

SETTINGS_MODULE = "bench.benchapp.settings"

# (label, predicate on a frame's file path and function name), first match wins.
CATEGORIES: list[tuple[str, Callable[[str, str], bool]]] = [
    ("psycopg: send, wait, results", lambda f, fn: "/psycopg" in f and "_queries" not in f),
    ("psycopg: query and parameter adaptation", lambda f, fn: "psycopg/_queries" in f),
    ("Django: cursor wrappers, connection", lambda f, fn: "django/db/backends" in f),
    ("Django: transaction.atomic", lambda f, fn: "django/db/transaction" in f),
    ("Django: ORM (models, compiler, query)", lambda f, fn: "django/db/models" in f),
    ("Django: signals", lambda f, fn: "django/dispatch" in f),
    ("Django: timezone, asyncio guards, other", lambda f, fn: "/django/" in f),
    ("engine: serialisation (+ json)", lambda f, fn: "serialization" in f or "/json/" in f),
    ("engine: everything else", lambda f, fn: "django_durable" in f),
    ("logging", lambda f, fn: "/logging/" in f),
    ("threads, locks, queues", lambda f, fn: any(m in f for m in ("threading", "concurrent/"))),
    ("contextlib, contextvars", lambda f, fn: "contextlib" in f or "contextvars" in fn),
    ("uuid, datetime", lambda f, fn: "uuid" in f or "datetime" in f or "datetime" in fn),
]


def categorise(filename: str, function: str) -> str:
    for label, match in CATEGORIES:
        if match(filename, function):
            return label
    if filename == "~":  # a C function called from Python: pstats names it "{...}"
        return "builtins (isinstance, getattr, str, ...)"
    return "other Python"


# ---------------------------------------------------------------- measurements


def _connection() -> Any:
    from django.db import connection

    connection.ensure_connection()
    return connection


def traced(op: Callable[[int], Any], count: int, start: int) -> dict[str, float]:
    """Round trips by kind and commits per operation, from a libpq trace of ``count`` ops."""
    from psycopg import pq

    from bench.benchapp.tracing import summarise

    pgconn = _connection().connection.pgconn
    with tempfile.NamedTemporaryFile("w+", suffix=".trace") as handle:
        pgconn.trace(handle.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            for i in range(start, start + count):
                op(i)
        finally:
            pgconn.untrace()
        handle.seek(0)
        counts = summarise(handle.read())
    return {k: v / count for k, v in sorted(counts.items())}


def timed(op: Callable[[int], Any], count: int, start: int) -> dict[str, Any]:
    """Wall and CPU per operation, and the wall time inside each kind of statement."""
    connection = _connection()
    inside: dict[str, list[float]] = defaultdict(list)

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            verb = sql.lstrip().split(None, 1)[0].upper()
            if verb == "SELECT" and "pg_notify" in sql:
                verb = "SELECT pg_notify"
            inside[verb].append(time.perf_counter() - t0)

    walls: list[float] = []
    c0 = time.thread_time()
    t_all = time.perf_counter()
    with connection.execute_wrapper(wrapper):
        for i in range(start, start + count):
            t0 = time.perf_counter()
            op(i)
            walls.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_all
    cpu = time.thread_time() - c0
    walls.sort()
    return {
        "rate": count / total,
        "wall_ms": total / count * 1000,
        "p50_ms": walls[len(walls) // 2] * 1000,
        "p99_ms": walls[min(len(walls) - 1, int(len(walls) * 0.99))] * 1000,
        "cpu_ms": cpu / count * 1000,
        "statements_ms": {
            verb: (len(times) / count, statistics.fmean(times) * 1000)
            for verb, times in sorted(inside.items())
        },
        "in_statements_ms": sum(sum(t) for t in inside.values()) / count * 1000,
    }


def _backend_cpu() -> float:
    """CPU seconds of the PostgreSQL backend serving this thread's connection (the server
    runs on this machine)."""
    connection = _connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    return _proc_cpu(pid)


def plain_rate(op: Callable[[int], Any], count: int, start: int) -> dict[str, float]:
    """Rate, client CPU and server CPU per operation, without any instrumentation."""
    s0 = _backend_cpu()
    c0, t0 = time.thread_time(), time.perf_counter()
    for i in range(start, start + count):
        op(i)
    seconds = time.perf_counter() - t0
    cpu = time.thread_time() - c0
    return {
        "rate": count / seconds,
        "cpu_ms": cpu / count * 1000,
        "server_ms": (_backend_cpu() - s0) / count * 1000,
    }


def _rate_text(r: dict[str, float]) -> str:
    return (
        f"{r['rate']:6.0f} ops/s, client CPU {r['cpu_ms']:.3f} ms/op, server CPU "
        f"{r['server_ms']:.3f} ms/op"
    )


def profiled(op: Callable[[int], Any], count: int, start: int, top: int) -> None:
    """cProfile on the CPU clock: the categories and the top functions per op. Its cost
    per call inflates code made of many small calls, so py-spy's categories are the fairer
    split; this one gives exact call counts."""
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    for i in range(start, start + count):
        op(i)
    profile.disable()
    stats = pstats.Stats(profile)
    by_category: Counter[str] = Counter()
    rows = []
    for (filename, _line, function), (_cc, calls, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_category[categorise(filename, function)] += tottime
        rows.append((tottime, calls, filename, function))
    total = sum(by_category.values())
    print(f"  cProfile: client CPU {total / count * 1000:.3f} ms/op (inflated by the profiler)")
    for label, seconds in by_category.most_common():
        print(f"      {seconds / count * 1000:7.3f} ms  {seconds / total * 100:5.1f} %  {label}")
    print(f"    top {top} functions by own CPU time (ms/op, calls/op):")
    for tottime, calls, filename, function in sorted(rows, reverse=True)[:top]:
        short = filename.split("site-packages/")[-1].replace(str(REPO_ROOT) + "/", "")
        print(f"      {tottime / count * 1000:7.3f}  {calls / count:5.1f}  {short}:{function}")


SPY_RATE = 250
"""py-spy samples per second."""


def start_spy(pid: int, output: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on ``pid``: the thread holding the GIL, without pausing the process."""
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        print("  (py-spy not found: pip install py-spy into this virtualenv)")
        return None
    argv = [found, "record", "--pid", str(pid), "--format", "raw", "--threads", "--gil"]
    argv += ["--nonblocking", "--full-filenames", "--rate", str(SPY_RATE), "-o", str(output)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return proc


def stop_spy(proc: subprocess.Popen[bytes] | None, output: Path, per: int, unit: str) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file and exits
    proc.wait(timeout=60)
    if output.exists():
        print_spy(output.read_text(), per, unit)


def spied(op: Callable[[int], Any], count: int, start: int) -> None:
    """py-spy on this process while it runs ``count`` operations."""
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "spy.txt"
        spy = start_spy(os.getpid(), output)
        for i in range(start, start + count):
            op(i)
        stop_spy(spy, output, count, "op")


def synchronous_commit_off(op: Callable[[int], Any], count: int, start: int) -> dict[str, float]:
    connection = _connection()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        return plain_rate(op, count, start)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = on")


def _print_part(name: str, op: Callable[[int], Any], n: int, top: int) -> int:
    """The measurements common to the in-process parts; returns the next argument."""
    for i in range(50):  # warm-up
        op(-1 - i)
    start = 0
    counts = traced(op, 20, start)
    start += 20
    trips = ", ".join(
        f"{k} {v:g}" for k, v in counts.items() if k not in ("round trips", "commits")
    )
    print(
        f"  round trips {counts['round trips']:g} per op ({trips}); commits {counts['commits']:g}"
    )
    rate = plain_rate(op, n, start)
    start += n
    print(f"  uninstrumented: {_rate_text(rate)}")
    t = timed(op, n, start)
    start += n
    print(
        f"  with timing: {t['rate']:.0f} ops/s; wall {t['wall_ms']:.3f} ms/op (p50 "
        f"{t['p50_ms']:.3f}, p99 {t['p99_ms']:.3f}), client CPU {t['cpu_ms']:.3f} ms/op; "
        f"inside statements {t['in_statements_ms']:.3f} ms/op, outside "
        f"{t['wall_ms'] - t['in_statements_ms']:.3f}"
    )
    for verb, (per_op, mean_ms) in t["statements_ms"].items():
        print(f"    {verb:18} x{per_op:g}/op, {mean_ms:.3f} ms each (wall, round trip included)")
    off = synchronous_commit_off(op, n, start)
    start += n
    print(
        f"  synchronous_commit=off (diagnosis): {off['rate']:.0f} ops/s, client CPU "
        f"{off['cpu_ms']:.3f} ms/op: the WAL flushes are "
        f"{(1 / rate['rate'] - 1 / off['rate']) * 1000:.3f} ms of each op's "
        f"{1000 / rate['rate']:.3f} ms"
    )
    spied(op, n, start)
    start += n
    profiled(op, n, start, top)
    return start + n


# ---------------------------------------------------------------- parts


def part_direct(args: argparse.Namespace) -> None:
    from bench.benchapp.workflows import three_trivial_steps

    print("\n== direct call of three_trivial_steps (a new run each) ==")
    start = _print_part("direct", three_trivial_steps, args.n, args.top)
    _direct_floor(args.n, start)


def _direct_floor(n: int, start: int) -> None:
    """The writes of a direct workflow with plain SQL: the floor of the current design, and
    what merging the last checkpoint into the outcome or prepared statements would give."""
    import uuid

    from django.utils import timezone
    from psycopg import Cursor

    from django_durable import serialization
    from django_durable.models import StepOutput, WorkflowRun

    connection = _connection()
    q = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    fields = list(WorkflowRun._meta.concrete_fields)
    runs = q(WorkflowRun._meta.db_table)
    insert_run = (
        f"INSERT INTO {runs} ({', '.join(q(str(f.column)) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    step_fields = ["run", "step_number", "step_name", "output", "error", "child_workflow_id"]
    step_fields += ["started_at", "completed_at"]
    step_columns = [str(StepOutput._meta.get_field(name).column) for name in step_fields]
    insert_step = (
        f"INSERT INTO {q(StepOutput._meta.db_table)} ({', '.join(map(q, step_columns))}) "  # noqa: S608
        f"SELECT {', '.join(['%s'] * len(step_columns))} WHERE EXISTS (SELECT 1 FROM {runs} "
        f"WHERE {q('workflow_id')} = %s AND {q('status')} = %s)"
    )
    finish = (
        f"UPDATE {runs} SET {q('status')} = %s, {q('output')} = %s, {q('error')} = %s, "  # noqa: S608
        f"{q('completed_at')} = %s, {q('updated_at')} = %s "
        f"WHERE {q('workflow_id')} = %s AND {q('status')} = %s"
    )
    merged = f"WITH s AS ({insert_step}) {finish}"
    unguarded = (
        f"INSERT INTO {q(StepOutput._meta.db_table)} ({', '.join(map(q, step_columns))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(step_columns))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS durable_bench_probe (id bigserial PRIMARY KEY, n int)"
        )

    def writes(i: int) -> list[tuple[str, list[Any]]]:
        now = timezone.now()
        run = WorkflowRun(
            workflow_id=str(uuid.uuid4()),
            name="three_trivial_steps",
            status="PENDING",
            inputs=serialization.dumps({"args": [i], "kwargs": {}}),
            executor_id="bench",
            created_at=now,
            updated_at=now,
            started_at=now,
        )
        wid = run.workflow_id
        out = [
            (insert_run, [f.get_db_prep_save(getattr(run, f.attname), connection) for f in fields])
        ]
        x = i
        for number, name, fn in ((1, "add_one", lambda v: v + 1), (2, "double", lambda v: v * 2)):
            t = timezone.now()
            x = fn(x)
            params = [wid, number, name, serialization.dumps(x), None, None, adapt(t)]
            out.append((insert_step, [*params, adapt(timezone.now()), wid, "PENDING"]))
        t = timezone.now()
        x -= 3
        last = [wid, 3, "subtract_three", serialization.dumps(x), None, None, adapt(t)]
        out.append((insert_step, [*last, adapt(timezone.now()), wid, "PENDING"]))
        done = adapt(timezone.now())
        out.append((finish, ["SUCCESS", serialization.dumps(x), None, done, done, wid, "PENDING"]))
        return out

    def merge_last(statements: list[tuple[str, list[Any]]]) -> list[tuple[str, list[Any]]]:
        (_, step), (_, outcome) = statements[-2:]
        return [*statements[:-2], (merged, [*step, *outcome])]

    def django_cursor(merge: bool) -> Callable[[int], None]:
        def op(i: int) -> None:
            statements = writes(i)
            with connection.cursor() as cursor:
                for sql, params in merge_last(statements) if merge else statements:
                    cursor.execute(sql, params)

        return op

    def without_guard(i: int) -> None:
        statements = writes(i)
        with connection.cursor() as cursor:
            for sql, params in statements:
                if sql == insert_step:
                    sql, params = unguarded, params[:-2]
                cursor.execute(sql, params)

    def probe(i: int) -> None:
        with connection.cursor() as cursor:
            for _ in range(5):
                cursor.execute("INSERT INTO durable_bench_probe (n) VALUES (%s)", [i])

    def prepared(merge: bool) -> Callable[[int], None]:
        def op(i: int) -> None:
            statements = writes(i)
            with Cursor(connection.connection) as cursor:  # server-side binding
                for sql, params in merge_last(statements) if merge else statements:
                    cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]

        return op

    print("  the same writes with plain SQL, uninstrumented (the floor of this design):")
    for label, op in (
        (
            "Django cursor, 5 statements in autocommit (5 round trips, 5 commits)",
            django_cursor(False),
        ),
        ("Django cursor, the last step merged into the outcome (4, 4)", django_cursor(True)),
        ("psycopg, server-side binding, prepared, 5 statements (5, 5)", prepared(False)),
        ("psycopg, server-side binding, prepared, merged (4, 4)", prepared(True)),
        ("Django cursor, 5 statements, step INSERTs without the EXISTS guard", without_guard),
        ("for scale: 5 one-row INSERTs into a 2-column table (5, 5)", probe),
    ):
        for i in range(50):
            op(-1 - i)
        r = plain_rate(op, n, start)
        start += n
        print(f"    {_rate_text(r)}: {label}")


def part_enqueue(args: argparse.Namespace) -> None:
    from bench.benchapp.workflows import BENCH_QUEUE, three_trivial_steps

    print("\n== Queue.enqueue(three_trivial_steps, i), no worker running ==")
    start = _print_part(
        "enqueue", lambda i: BENCH_QUEUE.enqueue(three_trivial_steps, i), args.n, args.top
    )
    _enqueue_variants(args.n, start)


def _enqueue_variants(n: int, start: int) -> None:
    """The same row written with plain SQL, to size a one-round-trip enqueue."""
    import uuid

    from django.db import transaction
    from django.utils import timezone

    from django_durable import serialization
    from django_durable.models import WorkflowRun

    connection = _connection()
    q = connection.ops.quote_name
    fields = list(WorkflowRun._meta.concrete_fields)
    columns = ", ".join(q(str(f.column)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table = q(WorkflowRun._meta.db_table)
    insert = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    notify = "SELECT pg_notify(%s, %s)"
    one = f"WITH r AS ({insert} RETURNING 1) SELECT pg_notify(%s, %s) FROM r"  # noqa: S608

    def params(i: int) -> list[Any]:
        now = timezone.now()
        run = WorkflowRun(
            workflow_id=str(uuid.uuid4()),
            name="three_trivial_steps",
            status="ENQUEUED",
            inputs=serialization.dumps({"args": [i], "kwargs": {}}),
            queue_name="bench",
            priority=0,
            created_at=now,
            updated_at=now,
        )
        return [f.get_db_prep_save(getattr(run, f.attname), connection) for f in fields]

    def v1(i: int) -> None:  # prebuilt INSERT, then pg_notify, in one transaction
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert, params(i))
            cursor.execute(notify, ["django_durable", "bench"])

    def v2(i: int) -> None:  # one statement in autocommit: INSERT and pg_notify
        with connection.cursor() as cursor:
            cursor.execute(one, [*params(i), "django_durable", "bench"])

    def v3(i: int) -> None:  # one INSERT in autocommit, no notification
        with connection.cursor() as cursor:
            cursor.execute(insert, params(i))

    print("  what-if variants of the same row (plain SQL, uninstrumented):")
    for label, op in (
        ("prebuilt INSERT + SELECT pg_notify in atomic (4 round trips, 1 commit)", v1),
        ("one statement WITH INSERT ... SELECT pg_notify, autocommit (1, 1)", v2),
        ("one INSERT, autocommit, no notify (1, 1)", v3),
    ):
        for i in range(50):
            op(-1 - i)
        r = plain_rate(op, n, start)
        start += n
        print(f"    {_rate_text(r)}: {label}")


def part_worker(args: argparse.Namespace) -> None:
    from django.db import connection, transaction
    from django.db.models import Max, Min

    from bench.benchapp.tracing import summarise
    from bench.benchapp.workflows import BENCH_QUEUE, three_trivial_steps
    from django_durable.models import StepOutput, WorkflowRun

    def reset() -> None:
        tables = ", ".join(
            connection.ops.quote_name(m._meta.db_table) for m in (StepOutput, WorkflowRun)
        )
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables}")

    def worker(extra_env: dict[str, str], batch: bool) -> subprocess.Popen[bytes]:
        argv = [sys.executable, str(REPO_ROOT / "manage.py"), "runscheduler"]
        argv += ["--settings", SETTINGS_MODULE, "--queues", "bench", "--no-scheduler"]
        argv += ["--concurrency", str(args.concurrency), "--verbosity", "0"]
        argv += ["--batch"] if batch else []
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["DURABLE_BENCH_POLL_INTERVAL"] = repr(args.poll_interval)
        return subprocess.Popen(
            argv, cwd=REPO_ROOT, env={**env, **extra_env}, stdout=subprocess.DEVNULL
        )

    def enqueue_backlog(count: int) -> None:
        reset()
        for i in range(count):
            BENCH_QUEUE.enqueue(three_trivial_steps, i)

    print(
        f"\n== queued runs: runscheduler --concurrency {args.concurrency}, poll "
        f"{args.poll_interval:g} s, persistent connections =="
    )
    # 1. Round trips per run, from traces of every connection of a batch worker.
    traced_runs = 200
    enqueue_backlog(traced_runs)
    with tempfile.TemporaryDirectory() as directory:
        proc = worker({"DURABLE_BENCH_TRACE": directory}, batch=True)
        if proc.wait(timeout=600) != 0:
            raise RuntimeError("the traced worker failed")
        by_thread: dict[str, Counter[str]] = defaultdict(Counter)
        for path in glob.glob(os.path.join(directory, "trace-*.txt")):
            thread = Path(path).stem.split("-", 3)[3]
            kind = "pool threads" if thread.startswith("durable-worker") else thread
            by_thread[kind].update(summarise(Path(path).read_text()))
    print(f"  round trips per run (a batch drain of {traced_runs} queued runs, all connections):")
    for kind, counts in sorted(by_thread.items()):
        detail = ", ".join(f"{k} {v / traced_runs:.2f}" for k, v in sorted(counts.items()))
        print(f"    {kind}: {detail}")

    # 2. A backlog of n runs committed at once into a warm idle worker, drained without
    # and then with py-spy (start-up is outside both).
    reset()
    proc = worker({}, batch=False)
    try:
        # Warm: enough runs at once that every pool thread opens its connection.
        with transaction.atomic():
            warm = [BENCH_QUEUE.enqueue(three_trivial_steps, -1 - i) for i in range(32)]
        for handle in warm:
            handle.get_result(timeout=120)
        for spying in (False, True):
            reset()
            with tempfile.TemporaryDirectory() as directory:
                output = Path(directory) / "spy.txt"
                spy = start_spy(proc.pid, output) if spying else None
                with transaction.atomic():  # every run becomes visible at the commit
                    for i in range(args.n):
                        BENCH_QUEUE.enqueue(three_trivial_steps, i)
                cpu, backends = _proc_cpu(proc.pid), _other_backends()
                server = sum(_proc_cpu(pid) for pid in backends)
                _wait_done(WorkflowRun.objects.filter(status="SUCCESS"), args.n)
                cpu = _proc_cpu(proc.pid) - cpu
                server = sum(_proc_cpu(pid) for pid in backends) - server
                opened = len(set(_other_backends()) - set(backends))
                if spying:
                    stop_spy(spy, output, args.n, "run")
            window = WorkflowRun.objects.aggregate(a=Min("started_at"), b=Max("completed_at"))
            seconds = (window["b"] - window["a"]).total_seconds()
            print(
                f"  drain of a backlog of {args.n} runs{' under py-spy' if spying else ''}: "
                f"{args.n / seconds:.0f} runs/s (first claim to last completion); worker "
                f"process CPU {cpu / args.n * 1000:.2f} ms/run, its {len(backends)} PostgreSQL "
                f"backends {server / args.n * 1000:.2f} ms/run ({opened} opened meanwhile)"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

    # 3. Latency: runs enqueued one every 20 ms into an idle worker, then a burst.
    reset()
    proc = worker({}, batch=False)
    try:
        BENCH_QUEUE.enqueue(three_trivial_steps, -1).get_result(timeout=120)  # worker is up
        handles = []
        for i in range(200):
            handles.append(BENCH_QUEUE.enqueue(three_trivial_steps, i))
            time.sleep(0.02)
        for handle in handles:
            handle.get_result(timeout=120)
        paced = _latencies(WorkflowRun.objects.filter(queue_name="bench"))
        reset()
        for i in range(args.n):
            BENCH_QUEUE.enqueue(three_trivial_steps, i)
        _wait_done(WorkflowRun.objects.filter(status="SUCCESS"), args.n)
        burst = _latencies(WorkflowRun.objects.filter(queue_name="bench"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    print(f"  200 runs enqueued one every 20 ms into an idle worker: {paced}")
    print(f"  {args.n} runs enqueued in a row while the worker drains: {burst}")


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from ``/proc``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")


def _other_backends() -> list[int]:
    """PostgreSQL backends on the scratch database other than this thread's."""
    with _connection().cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def _wait_done(done: Any, count: int) -> None:
    deadline = time.monotonic() + 600
    while done.count() < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the drain did not finish in 600 s")
        time.sleep(0.25)


def _latencies(runs: Any) -> str:
    rows = list(runs.values_list("created_at", "started_at", "completed_at"))
    waits = sorted((s - c).total_seconds() * 1000 for c, s, _ in rows)
    execs = sorted((d - s).total_seconds() * 1000 for _, s, d in rows)

    def pct(values: list[float], f: float) -> str:
        return f"{values[min(len(values) - 1, int(len(values) * f))]:.1f}"

    return (
        f"enqueue to claim p50 {pct(waits, 0.5)} ms, p90 {pct(waits, 0.9)}, max "
        f"{waits[-1]:.1f}; claim to completion p50 {pct(execs, 0.5)} ms, p90 {pct(execs, 0.9)}, "
        f"max {execs[-1]:.1f}"
    )


def print_spy(text: str, per: int, unit: str) -> None:
    """py-spy's collapsed stacks of the GIL holder: CPU by category (of the leaf frame) and
    by thread and outermost engine functions (inclusive), in ms per operation."""
    by_category: Counter[str] = Counter()
    by_entry: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0].split(": ", 1)[-1] if ": " in frames[0] else "thread"
        function, _, where = frames[-1].rpartition(" (")
        by_category[categorise(where.rsplit(":", 1)[0], function)] += count
        engine = [f.split(" (")[0] for f in frames[1:] if "django_durable" in f]
        kind = "pool" if thread.startswith("durable-worker") else thread
        by_entry[f"{kind}: {' > '.join(engine[:2]) or 'outside the engine'}"] += count
        total += count
    if not total:
        print("  py-spy took no samples")
        return

    def ms(count: int) -> str:
        return f"{count / SPY_RATE / per * 1000:7.3f}"

    print(f"  py-spy (GIL holder, {SPY_RATE} Hz): {ms(total).strip()} ms/{unit} of Python CPU")
    for label, count in by_category.most_common():
        print(f"    {ms(count)} ms  {count / total * 100:5.1f} %  {label}")
    print("   by thread and outermost engine functions (inclusive):")
    for label, count in by_entry.most_common(12):
        print(f"    {ms(count)} ms  {count / total * 100:5.1f} %  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=2000, help="operations per measurement")
    parser.add_argument("--parts", default="direct,enqueue,worker")
    parser.add_argument("--concurrency", type=int, default=8, help="runscheduler --concurrency")
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--pg-dsn", default="host=127.0.0.1 port=5432 user=postgres")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    configure_django(SETTINGS_MODULE, args.pg_dsn, conn_max_age="none")
    import django
    from django.core.management import call_command

    print(
        f"Python {sys.version.split()[0]}, Django {django.get_version()}; "
        f"load {Path('/proc/loadavg').read_text().strip()}"
    )
    with scratch_database(args.pg_dsn):
        call_command("migrate", verbosity=0, interactive=False)
        parts = {"direct": part_direct, "enqueue": part_enqueue, "worker": part_worker}
        for name in args.parts.split(","):
            parts[name.strip()](args)
    print(f"\nload at end: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
