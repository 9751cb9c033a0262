"""``queue_throughput.py --compare-dbos``: enqueue-and-drain, ours against DBOS Transact.

Each round of each side runs in a new scratch database with two new processes: one worker
(ours: ``manage.py runscheduler --no-scheduler --queues bench``; DBOS: ``dbos_program.py
worker``, a launched DBOS with the queue registered) and one enqueuer (ours: this script
with ``DURABLE_BENCH_ENQUEUER`` set, calling ``Queue.enqueue``; DBOS: ``dbos_program.py
enqueue``, a ``DBOSClient``). Both workers poll their queue every ``--poll-interval``
seconds (ours is also woken by ``NOTIFY``, as it is by default).

The enqueuer first enqueues ``--warmup`` runs and waits for their results, so both
processes are warm, then enqueues ``--n`` runs in a row. The figure is **runs/s** =
``n / (last completion - start of the first timed enqueue)``, the completion time read
from the rows afterwards (ours ``completed_at``, DBOS's ``completed_at`` in epoch ms),
the start from the enqueuer's wall clock: enqueue-to-all-done. Meanwhile the parent only
counts finished runs, every 0.25 s. Every run must end ``SUCCESS`` with three step rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from bench import _compare

ENQUEUER_ENV = "DURABLE_BENCH_ENQUEUER"
"""JSON spec of the enqueuer child (ours); unset in every other process."""

QUEUE = "bench"
DRAIN_TIMEOUT = 900.0
COUNT_EVERY = 0.25
REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_MODULE = "bench.benchapp.settings"


def expected(x: int) -> int:
    return 2 * (x + 1) - 3


# ---------------------------------------------------------------- our enqueuer (child)


def enqueuer_main() -> None:
    """Our enqueuing process: warm up, say ``WARM``, time ``n`` enqueues, print JSON."""
    from bench._scratch import configure_django

    spec = json.loads(os.environ[ENQUEUER_ENV])
    configure_django(SETTINGS_MODULE, spec["dsn"], database=spec["database"])
    from bench.benchapp.workflows import BENCH_QUEUE, three_trivial_steps

    handles = [BENCH_QUEUE.enqueue(three_trivial_steps, -1 - i) for i in range(spec["warmup"])]
    for i, handle in enumerate(handles):
        if handle.get_result(timeout=120) != expected(-1 - i):
            raise RuntimeError("a warm-up run returned a wrong result")
    print("WARM", flush=True)
    c0 = _cpu_seconds()
    t0 = time.time()
    for i in range(spec["n"]):
        BENCH_QUEUE.enqueue(three_trivial_steps, i)
    t1 = time.time()
    cpu = _cpu_seconds() - c0
    print(json.dumps({"t0": t0, "t1": t1, "enqueue_cpu_ms": cpu / spec["n"] * 1000}), flush=True)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------- process helpers


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from ``/proc``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read_line(stream: IO[str], proc: subprocess.Popen[str], word: str) -> None:
    """Wait for the line ``word`` on a child's stdout (the child's ``print``)."""
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError(f"process {proc.args!r} exited before saying {word}")
        if line.strip() == word:
            return


def _last_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


@contextmanager
def _worker_log(side: str) -> Iterator[IO[str]]:
    """Where a worker's own output goes: ``<tmp>/durable_bench_<pid>_<side>_worker.log``,
    removed after a round that succeeded and kept (its path printed) after one that failed."""
    path = Path(tempfile.gettempdir()) / f"durable_bench_{os.getpid()}_{side}_worker.log"
    try:
        with path.open("w") as log:
            yield log
    except BaseException:
        print(f"the {side} worker's log: {path}", file=sys.stderr)
        raise
    path.unlink()


def _stop(proc: subprocess.Popen[str] | None, timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds; reaps the child."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _drain(
    count_done: Any, total: int, worker: subprocess.Popen[str], enqueuer: subprocess.Popen[str]
) -> tuple[dict[str, Any], float]:
    """From ``WARM`` to every run done: the enqueuer's figures and the worker's CPU."""
    assert enqueuer.stdout is not None
    _read_line(enqueuer.stdout, enqueuer, "WARM")
    cpu0 = _proc_cpu(worker.pid)
    enq = _last_json(enqueuer)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while (done := count_done()) < total:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode} ({done}/{total} done)")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done}/{total} runs finished in {DRAIN_TIMEOUT:.0f} s")
        time.sleep(COUNT_EVERY)
    return enq, _proc_cpu(worker.pid) - cpu0


def _figures(n: int, enq: dict[str, Any], last_done: float, worker_cpu: float) -> dict[str, Any]:
    return {
        "runs_per_s": n / (last_done - enq["t0"]),
        "seconds": last_done - enq["t0"],
        "enqueue_per_s": n / (enq["t1"] - enq["t0"]),
        "enqueue_cpu_ms": enq["enqueue_cpu_ms"],
        "worker_cpu_ms": worker_cpu / n * 1000,
    }


# ---------------------------------------------------------------- our side


def ours(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from bench._scratch import scratch_database
    from django_durable.models import RunStatus, StepOutput, WorkflowRun

    total = args.n + args.warmup
    worker = enqueuer = None
    with _worker_log("ours") as log, scratch_database(args.pg_dsn) as database:
        call_command("migrate", verbosity=0, interactive=False)
        connection.close()
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        try:
            argv = [sys.executable, str(REPO_ROOT / "manage.py"), "runscheduler"]
            argv += ["--settings", SETTINGS_MODULE, "--queues", QUEUE, "--no-scheduler"]
            argv += ["--concurrency", str(args.concurrency), "--verbosity", "0"]
            argv += ["--executor-id", "bench-compare"]
            worker = subprocess.Popen(
                argv, cwd=REPO_ROOT, env=env, text=True, stdout=log, stderr=log
            )
            spec = {"dsn": args.pg_dsn, "database": database, "n": args.n}
            spec["warmup"] = args.warmup
            enqueuer = subprocess.Popen(
                [sys.executable, str(REPO_ROOT / "bench" / "queue_throughput.py")],
                cwd=REPO_ROOT,
                env={**env, ENQUEUER_ENV: json.dumps(spec)},
                stdout=subprocess.PIPE,
                text=True,
            )
            runs = WorkflowRun.objects.filter(queue_name=QUEUE)

            def count_done() -> int:
                return runs.filter(status=RunStatus.SUCCESS).count()

            enq, worker_cpu = _drain(count_done, total, worker, enqueuer)
        finally:
            _stop(enqueuer)
            _stop(worker)
        steps = StepOutput.objects.count()
        if steps != 3 * total or runs.count() != total:
            raise RuntimeError(f"expected {total} runs with {3 * total} steps, found {steps}")
        last = max(runs.values_list("completed_at", flat=True))
        connection.close()
    return _figures(args.n, enq, last.timestamp(), worker_cpu)


# ---------------------------------------------------------------- DBOS's side


def dbos(args: argparse.Namespace, python: Path) -> dict[str, Any]:
    import psycopg

    from bench._scratch import scratch_database

    total = args.n + args.warmup
    worker = enqueuer = None
    scratch = scratch_database(args.pg_dsn, _compare.DBOS_DATABASE)
    with _worker_log("dbos") as log, scratch as database:
        url = _compare.dbos_url(args.pg_dsn, database)
        program = [str(python), str(_compare.DBOS_PROGRAM), "--url", url, "--queue", QUEUE]
        try:
            worker = subprocess.Popen(
                [*program, "--poll", str(args.poll_interval), "worker"],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            assert worker.stdout is not None
            _read_line(worker.stdout, worker, "READY")
            enqueuer = subprocess.Popen(
                [*program, "--n", str(args.n), "--warmup", str(args.warmup), "enqueue"],
                stdout=subprocess.PIPE,
                text=True,
            )
            with psycopg.connect(args.pg_dsn, dbname=database, autocommit=True) as conn:

                def count_done() -> int:
                    row = conn.execute(
                        "SELECT count(*) FROM dbos.workflow_status "
                        "WHERE queue_name = %s AND status = 'SUCCESS'",
                        [QUEUE],
                    ).fetchone()
                    return int(row[0]) if row else 0

                enq, worker_cpu = _drain(count_done, total, worker, enqueuer)
                row = conn.execute(
                    "SELECT count(*), max(completed_at) FROM dbos.workflow_status "
                    "WHERE queue_name = %s",
                    [QUEUE],
                ).fetchone()
                step_row = conn.execute("SELECT count(*) FROM dbos.operation_outputs").fetchone()
        finally:
            _stop(enqueuer)
            _stop(worker)
    assert row is not None and step_row is not None
    if row[0] != total or step_row[0] != 3 * total:
        raise RuntimeError(f"expected {total} runs with {3 * total} steps, found {step_row[0]}")
    return _figures(args.n, enq, row[1] / 1000, worker_cpu)


# ---------------------------------------------------------------- both


def compare(args: argparse.Namespace) -> None:
    python, version = _compare.dbos_python()
    print(
        f"Side by side with DBOS Transact {version} ({python}): {args.n} runs of the 3-step "
        f"workflow enqueued from one process while one worker process drains them, after "
        f"{args.warmup} warm-up runs; both workers poll every {args.poll_interval:g} s "
        f"(ours: runscheduler --concurrency {args.concurrency}, also woken by NOTIFY; DBOS: "
        f"a queue without limits); {args.compare_rounds} rounds of ours then DBOS, each "
        f"with new processes and a new database"
    )
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}")
    pairs = _compare.alternate(
        args.compare_rounds, lambda: ours(args), lambda: dbos(args, python), "runs_per_s"
    )
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}\n")

    def extra(r: _compare.Round) -> str:
        d = r.details
        return (
            f"all done {d['seconds']:.2f} s after the first enqueue; enqueue "
            f"{d['enqueue_per_s']:.0f}/s ({d['enqueue_cpu_ms']:.2f} ms CPU each); worker CPU "
            f"{d['worker_cpu_ms']:.2f} ms/run"
        )

    _compare.report(pairs, "runs/s", extra)
