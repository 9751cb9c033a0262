"""Benchmark: waits that park against waits that hold a worker thread.

Run from the repository root (PostgreSQL only)::

    .venv/bin/python bench/waiting.py [--sleepers 20] [--seconds 10] [--receivers 40]

On a scratch database (``bench/_scratch.py``), with one ``manage.py runscheduler
--no-scheduler --queues bench --concurrency 4`` worker process per measurement:

1. **Sleepers**: ``--sleepers`` runs of ``sleep_between_steps`` (a step, a durable sleep
   of ``--seconds``, a step) are enqueued at once. Measured twice, side by side: with
   ``PARK_THRESHOLD=1`` (the runs park) and with ``PARK_THRESHOLD=None`` (each sleeping
   run holds one of the four threads). Reported: the time from the enqueue until
   the last run succeeded, the most runs parked at once, and the most threads of the
   worker process (``/proc``).
2. **Messages**: ``--receivers`` runs of ``wait_for_go`` (``recv("go")``, then a step) are
   started; once they all wait, each is sent a message, one every 20 ms. Reported: the
   time from each send's commit to its run's completion (median and 95th percentile),
   for runs waiting in place (the default threshold: they have not parked yet) and for
   parked runs (``PARK_THRESHOLD=0``: woken by ``NOTIFY``, claimed and replayed).

This is a benchmark, not a test: it reports figures from one run and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import signal
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

from bench._scratch import configure_django, scratch_database  # noqa: E402

SETTINGS_MODULE = "bench.benchapp.settings"
CONCURRENCY = 4


def _worker(logs: Path, name: str, park: str | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    if park is not None:
        env["DURABLE_BENCH_PARK_THRESHOLD"] = park
    argv = [sys.executable, str(REPO_ROOT / "manage.py"), "runscheduler"]
    argv += ["--settings", SETTINGS_MODULE, "--queues", "bench", "--no-scheduler"]
    argv += ["--concurrency", str(CONCURRENCY), "--executor-id", f"bench-{name}"]
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _reset() -> None:
    from django_durable.models import Executor, StepOutput, WorkflowMessage, WorkflowRun

    for model in (WorkflowMessage, StepOutput, WorkflowRun, Executor):
        model.objects.all().delete()


def sleepers(count: int, seconds: float, park: str | None, logs: Path) -> dict[str, Any]:
    from django.db import transaction

    from bench.benchapp.workflows import BENCH_QUEUE, sleep_between_steps
    from django_durable.models import RunStatus, WaitingFor, WorkflowRun

    _reset()
    started = time.monotonic()
    with transaction.atomic():
        for index in range(count):
            BENCH_QUEUE.enqueue(sleep_between_steps, index, seconds)
    proc = _worker(logs, f"sleepers-{park}", park)
    runs = WorkflowRun.objects.all()
    threads = parked = 0
    try:
        while runs.filter(status=RunStatus.SUCCESS).count() < count:
            threads = max(threads, _threads(proc.pid))
            parked = max(parked, runs.filter(waiting_for=WaitingFor.SLEEP).count())
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode}")
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    finally:
        _stop(proc)
    return {"elapsed": elapsed, "threads": threads, "parked": parked}


def receivers(count: int, park: str | None, logs: Path) -> list[float]:
    import django_durable as durable
    from bench.benchapp.workflows import BENCH_QUEUE, wait_for_go
    from django_durable.models import RunStatus, StepOutput, WaitingFor, WorkflowRun

    _reset()
    ids = []
    for index in range(count):
        with durable.SetWorkflowID(f"recv-{index}"):
            ids.append(BENCH_QUEUE.enqueue(wait_for_go, index, 600).workflow_id)
    proc = _worker(logs, f"receivers-{park}", park)
    try:
        # Every run waits: parked (its row says so) or in place (its wait's end recorded).
        if park == "0":
            while WorkflowRun.objects.filter(waiting_for=WaitingFor.MESSAGE).count() < count:
                time.sleep(0.05)
        else:
            waiting = StepOutput.objects.filter(step_name="durable.sleep")
            while waiting.count() < min(count, CONCURRENCY):
                time.sleep(0.05)
        sent: dict[str, float] = {}
        for workflow_id in ids[: CONCURRENCY if park != "0" else count]:
            sent[workflow_id] = time.time()
            durable.send(workflow_id, "go", topic="go")
            time.sleep(0.02)
        latencies = []
        for workflow_id, at in sent.items():
            while True:
                run = WorkflowRun.objects.get(pk=workflow_id)
                if run.status == RunStatus.SUCCESS:
                    latencies.append(run.completed_at.timestamp() - at)
                    break
                time.sleep(0.01)
    finally:
        _stop(proc)
    return latencies


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sleepers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--receivers", type=int, default=40)
    parser.add_argument("--pg-dsn", default="host=127.0.0.1 port=5432 user=postgres")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    configure_django(SETTINGS_MODULE, args.pg_dsn, conn_max_age="none")
    from django.core.management import call_command

    with (
        scratch_database(args.pg_dsn),
        tempfile.TemporaryDirectory(prefix="durable_bench_", ignore_cleanup_errors=True) as tmp,
    ):
        call_command("migrate", verbosity=0, interactive=False)
        logs = Path(tmp)
        print(f"Python {sys.version.split()[0]}, Django {django.get_version()}; {_load()}")
        print(
            f"\n{args.sleepers} sleepers of {args.seconds:g} s, runscheduler --concurrency "
            f"{CONCURRENCY}:"
        )
        for label, park in (("parked (PARK_THRESHOLD 1 s)", "1"), ("held (None)", "none")):
            r = sleepers(args.sleepers, args.seconds, park, logs)
            print(
                f"  {label:28} all done in {r['elapsed']:6.1f} s; at most {r['parked']} "
                f"parked at once, {r['threads']} threads"
            )
        print(f"\nsend -> run completed, {args.receivers} receivers:")
        for label, park in (("waiting in place", None), ("parked (PARK_THRESHOLD 0)", "0")):
            got = receivers(args.receivers, park, logs)
            q95 = statistics.quantiles(got, n=20)[-1] if len(got) >= 2 else got[0]
            print(
                f"  {label:28} median {statistics.median(got) * 1000:6.1f} ms, "
                f"95th percentile {q95 * 1000:6.1f} ms ({len(got)} runs)"
            )
        print(f"\nafter: {_load()}")


if __name__ == "__main__":
    main()
