"""Benchmark: one scheduler process firing 10,000 per-minute schedules and a per-second one.

Run from the repository root (PostgreSQL only)::

    .venv/bin/python bench/scheduler_scale.py [--schedules 10000] [--minutes 3]

The script creates a scratch database ``durable_bench_<pid>`` (``--pg-dsn``, default
``host=127.0.0.1 port=5432 user=postgres``), migrates it and configures Django in-process
with the settings its scheduler uses (``bench/schedapp/settings.py``: the library's
default ``DURABLE`` settings). It writes ``--schedules`` active schedules ``* * * * *``
(``minute-00000``, ...) with ``WorkflowSchedule.objects.bulk_create`` (``next_fire_at``
computed from the cron, as ``create_schedule`` does) and one ``* * * * * *`` schedule
``second`` with ``create_schedule``, all on ``scheduled_noop(scheduled_at, context)``
(``bench/schedapp/workflows.py``). Then it starts ONE ``manage.py runscheduler
--no-worker`` (the scheduler only: the runs stay ENQUEUED), lets it fire one warm-up
minute, and measures ``--minutes`` whole minutes.

- **fire lag** of a run = ``created_at`` - its slot (parsed from the run id
  ``sched-<name>-<UTC ISO seconds>``); p50, p99 (nearest rank) and max, for the per-minute
  and the per-second schedules, over the slots in the measured window.
- **checks**: every minute slot has exactly one run of each per-minute schedule, every
  second of the window one run of ``second``, nothing else, all ENQUEUED.
- **CPU per minute**: the scheduler's (``/proc/<pid>/stat``) and PostgreSQL's (postmaster,
  live and reaped children: all databases, so it prints what others committed meanwhile).
- **where the time goes**: the scheduler times its statements, COMMITs, connects and ticks
  (``bench/schedapp/instrument.py``); the script splits the per-minute ticks' wall time
  into database and Python. ``--profile`` adds cProfile's top functions (stderr).

This is a benchmark, not a test: it reports figures from one run and never fails on them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pstats
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

from bench._scratch import configure_django, scratch_database  # noqa: E402

SETTINGS_MODULE = "bench.schedapp.settings"
MINUTE_PREFIX = "minute-"
SECOND_NAME = "second"
TICK = os.sysconf("SC_CLK_TCK")


def _query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _proc_stat(pid: int | str) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ..., utime is [11]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _postgres_cpu() -> float:
    """CPU seconds of PostgreSQL: postmaster, live and reaped children (NaN if remote)."""
    try:
        postmaster = _proc_stat(_query("SELECT pg_backend_pid()")[0][0])[1]
        total = sum(float(v) for v in _proc_stat(postmaster)[11:15])
    except OSError:
        return float("nan")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            child = _proc_stat(pid)
        except OSError:
            continue
        if child[1] == postmaster:
            total += float(child[11]) + float(child[12])
    return total / TICK


def _sample(scheduler_pid: int) -> dict[str, Any]:
    """CPU seconds so far (scheduler, PostgreSQL, machine); commits of other databases."""
    stat = _proc_stat(scheduler_pid)
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    rows = _query(
        "SELECT coalesce(datname, ''), xact_commit FROM pg_stat_database "
        "WHERE datname IS DISTINCT FROM current_database()"
    )
    vacuums = _query(
        "SELECT relname, autovacuum_count + autoanalyze_count FROM pg_stat_user_tables "
        "WHERE relname IN ('django_durable_workflowschedule', 'django_durable_workflowrun')"
    )
    return {
        **{f"vacuum:{name.rsplit('_', 1)[1]}": float(n) for name, n in vacuums},
        "scheduler": (float(stat[11]) + float(stat[12])) / TICK,
        "postgres": _postgres_cpu(),
        "busy": (sum(fields[:8]) - fields[3] - fields[4]) / TICK,
        "started": _query("SELECT pg_postmaster_start_time()")[0][0],
        **{f"db:{name}": float(n) for name, n in rows},
    }


def _others(before: dict[str, float], after: dict[str, float]) -> float:
    """Transactions committed in other databases (a dropped one counts all it had)."""
    keys = {k for k in (*before, *after) if k.startswith("db:")}
    return sum(abs(after.get(k, 0.0) - before.get(k, 0.0)) for k in keys)


def _create_schedules(count: int) -> float:
    from django.utils import timezone

    from bench.schedapp.workflows import scheduled_noop
    from django_durable import definitions
    from django_durable.models import WorkflowSchedule
    from django_durable.schedules import create_schedule

    t0 = time.perf_counter()
    workflow_name, class_name = definitions.resolve_workflow(scheduled_noop)
    fields = {"workflow_name": workflow_name, "workflow_class_name": class_name}
    fields["schedule"] = "* * * * *"
    cron = definitions.validate(definitions.ScheduleDefinition(schedule_name="m", **fields))
    now = timezone.now()
    fields.update(next_fire_at=cron.next_after(now), created_at=now, updated_at=now)
    rows = [
        WorkflowSchedule(schedule_name=f"{MINUTE_PREFIX}{i:05d}", **fields) for i in range(count)
    ]
    WorkflowSchedule.objects.bulk_create(rows, batch_size=2000)
    create_schedule(schedule_name=SECOND_NAME, workflow_fn=scheduled_noop, schedule="* * * * * *")
    _query(f"ANALYZE {WorkflowSchedule._meta.db_table}")
    return time.perf_counter() - t0


def _start_scheduler(args: argparse.Namespace, logs: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    env["DURABLE_BENCH_MARKS"] = str(logs)
    if args.profile:
        env["DURABLE_BENCH_PROFILE"] = "1"
    argv = [sys.executable, str(REPO_ROOT / "manage.py"), "runscheduler", "--no-worker"]
    argv += ["--settings", SETTINGS_MODULE, "--verbosity", str(args.verbosity)]
    with (logs / "scheduler.log").open("wb") as log:
        return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)


def _alive(proc: subprocess.Popen[bytes], logs: Path) -> None:
    if proc.poll() is not None:
        tail = (logs / "scheduler.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the scheduler exited with {proc.returncode}:\n{tail}")


def _sleep_until(wall: float, proc: subprocess.Popen[bytes], logs: Path) -> None:
    while (left := wall - time.time()) > 0:
        _alive(proc, logs)
        time.sleep(min(left, 1.0))


def _mark(proc: subprocess.Popen[bytes], logs: Path, number: int) -> dict[str, Any]:
    """Ask the scheduler for its counters (SIGUSR1) and read them."""
    os.kill(proc.pid, signal.SIGUSR1)
    path = logs / f"mark-{number}.json"
    deadline = time.monotonic() + 60
    while not path.exists():
        _alive(proc, logs)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the scheduler wrote no {path.name}")
        time.sleep(0.01)
    return json.loads(path.read_text())


def _runs(start: datetime, end: datetime) -> dict[str, list[tuple[str, datetime, float]]]:
    """The scheduler's runs with a slot in [start, end): (schedule, slot, lag) by kind
    (``other`` holds the runs that are not ENQUEUED)."""
    from django_durable.models import WorkflowRun

    found: dict[str, list[tuple[str, datetime, float]]] = {"minute": [], "second": [], "other": []}
    rows = WorkflowRun.objects.filter(schedule_name__isnull=False).values_list(
        "schedule_name", "workflow_id", "created_at", "status"
    )
    for name, run_id, created, status in rows.iterator(chunk_size=5000):
        slot = datetime.fromisoformat(run_id[len("sched-") + len(name) + 1 :])
        if start <= slot < end:
            kind = "other" if status != "ENQUEUED" else "minute"
            kind = "second" if kind == "minute" and name == SECOND_NAME else kind
            found[kind].append((name, slot, (created - slot).total_seconds()))
    return found


def _check(runs: dict[str, Any], start: datetime, minutes: int, schedules: int) -> list[str]:
    """Check lines: one run per schedule and slot, none missing, none more."""
    lines = []
    per_slot: dict[datetime, list[str]] = defaultdict(list)
    for name, slot, _ in runs["minute"]:
        per_slot[slot].append(name)
    expected = [start + timedelta(minutes=i) for i in range(minutes)]
    for slot in sorted(set(expected) | set(per_slot)):
        names = per_slot.get(slot, [])
        distinct = len(set(names))
        ok = slot in expected and len(names) == distinct == schedules
        lines.append(
            f"  {slot:%H:%M:%S}: {len(names)} runs, {distinct} distinct schedules, "
            f"{len(names) - distinct} duplicates, {schedules - distinct} missing"
            + ("" if ok else "  <-- PROBLEM")
        )
    seconds = Counter(slot for _, slot, _ in runs["second"])
    wanted = {start + timedelta(seconds=i) for i in range(minutes * 60)}
    missing, extra = wanted - set(seconds), set(seconds) - wanted
    duplicated = sum(n - 1 for n in seconds.values())
    lines.append(
        f"  per-second: {len(seconds)}/{len(wanted)} slots covered, {len(missing)} missing, "
        f"{duplicated} duplicated, {len(extra)} unexpected"
        + ("  <-- PROBLEM" if missing or extra or duplicated else "")
    )
    lines.append(f"  runs not ENQUEUED: {len(runs['other'])}")
    return lines


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)]


def _tick_report(m1: dict[str, Any], m2: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The ticks between the marks: the per-minute ones and the others, and statements."""
    big = [t for t in m2["ticks"] if t["enqueued"] > args.schedules // 2]
    small = [t for t in m2["ticks"] if t["enqueued"] <= args.schedules // 2]
    fires = sum(t["enqueued"] for t in big) or 1
    secs, db = sum(t["seconds"] for t in big), sum(t["db"] for t in big)
    stmts, cpu = sum(t["statements"] for t in big), sum(t["cpu"] for t in big)
    lines = [
        f"  {len(m2['ticks'])} ticks; {len(big)} per-minute ticks: "
        + ", ".join(
            f"{t['seconds']:.1f} s ({t['enqueued']} slots; database {t['db']:.1f} s, "
            f"thread CPU {t['cpu']:.1f} s)"
            for t in big
        ),
        f"  per slot fired in them: {secs / fires * 1000:.2f} ms wall = database "
        f"{db / fires * 1000:.2f} ms ({stmts / fires:.2f} statements + COMMIT) + Python "
        f"{(secs - db) / fires * 1000:.2f} ms; CPU of the scheduler thread "
        f"{cpu / fires * 1000:.2f} ms",
    ]
    if small:
        mean = sum(t["seconds"] for t in small) / len(small)
        lines.append(
            f"  other ticks: {len(small)}, mean {mean * 1000:.1f} ms, "
            f"max {max(t['seconds'] for t in small) * 1000:.1f} ms"
        )
    parts = []
    for kind, (n2, s2) in sorted(m2["stats"].items()):
        n1, s1 = m1["stats"].get(kind, [0, 0.0])
        parts.append(f"{kind} {(n2 - n1) / args.minutes:.0f} ({(s2 - s1) / args.minutes:.2f} s)")
    lines.append("  per minute, count (wall time): " + ", ".join(parts))
    return lines


def measure(args: argparse.Namespace, logs: Path) -> None:
    from django.db import connection

    created = _create_schedules(args.schedules)
    print(f"{args.schedules} per-minute schedules + 1 per-second written in {created:.2f} s")
    connection.close()
    proc = _start_scheduler(args, logs)
    try:
        warm = (int(time.time() + 10) // 60 + 1) * 60  # first minute slot: warm-up
        start = warm + 60 * args.warmup_minutes
        end = start + 60 * args.minutes
        hms = [time.strftime("%H:%M:%S", time.gmtime(t)) for t in (warm, start, end)]
        print(f"scheduler pid {proc.pid}; warm-up fire at {hms[0]}; window {hms[1]}-{hms[2]} UTC")
        _sleep_until(start - 0.5, proc, logs)
        s1, m1 = _sample(proc.pid), _mark(proc, logs, 1)
        connection.close()
        _sleep_until(end - 0.5, proc, logs)
        s2, m2 = _sample(proc.pid), _mark(proc, logs, 2)
        connection.close()
        first = datetime.fromtimestamp(start, UTC)
        last, deadline = first + timedelta(minutes=args.minutes), time.monotonic() + 300
        while time.monotonic() < deadline:  # until every slot of the window has fired
            runs = _runs(first, last)
            if len(runs["minute"]) + len(runs["second"]) >= args.minutes * (args.schedules + 60):
                break
            _alive(proc, logs)
            time.sleep(2)
    finally:
        for attempt, wait in enumerate((10, 10, 0)):  # SIGTERM drains; a second exits
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL if attempt == 2 else signal.SIGTERM)
                try:
                    proc.wait(timeout=wait or None)
                except subprocess.TimeoutExpired:
                    print(f"the scheduler was still running {wait} s after SIGTERM")
    runs = _runs(first, last)
    print("\nchecks (slots in the window):")
    print("\n".join(_check(runs, first, args.minutes, args.schedules)))
    print("\nfire lag = run.created_at - slot (nearest-rank percentiles):\n")
    print("| schedules       | runs  | lag p50 s | lag p99 s | lag max s |")
    print("|-----------------|------:|----------:|----------:|----------:|")
    for kind in ("minute", "second"):
        lags = [lag for _, _, lag in runs[kind]] or [float("nan")]
        p50, p99, worst = _pct(lags, 0.5), _pct(lags, 0.99), max(lags)
        print(f"| per-{kind:<11} | {len(lags):>5} | {p50:9.3f} | {p99:9.3f} | {worst:9.3f} |")
    minutes = (m2["time"] - m1["time"]) / 60
    if s1["started"] != s2["started"]:
        print(f"\nWARNING: PostgreSQL restarted during the window (at {s2['started']})")
        s2["postgres"] = float("nan")
    cpu = {k: (s2[k] - s1[k]) / minutes for k in ("scheduler", "postgres", "busy")}
    print(f"\nCPU seconds per minute over {minutes:.2f} min (of {60 * (os.cpu_count() or 1)}):")
    print(
        f"  scheduler {cpu['scheduler']:.2f} (its own count: "
        f"{(m2['cpu'] - m1['cpu']) / minutes:.2f}); PostgreSQL {cpu['postgres']:.2f}; "
        f"whole machine {cpu['busy']:.2f}; other databases committed "
        f"{_others(s1, s2):.0f} transactions meanwhile"
    )
    print(
        "  autovacuum + autoanalyze runs in the window: "
        + ", ".join(f"{k[7:]} {s2[k] - s1.get(k, 0):.0f}" for k in s2 if k.startswith("vacuum:"))
    )
    print("\nscheduler ticks in the window (wall clock):")
    print("\n".join(_tick_report(m1, m2, args)))
    print(
        f"\nscheduler CPU {cpu['scheduler']:.2f} s/min, PostgreSQL CPU {cpu['postgres']:.2f} s/min"
    )
    if args.profile and (logs / "scheduler.prof").exists():
        print("\n--- cProfile of the scheduler over the window (CPU) ---", file=sys.stderr)
        stats = pstats.Stats(str(logs / "scheduler.prof"), stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(35)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--schedules", type=int, default=10000, help="per-minute schedules")
    parser.add_argument("--minutes", type=int, default=3, help="measured minutes")
    parser.add_argument("--warmup-minutes", type=int, default=1, help="minute fires before")
    parser.add_argument("--verbosity", type=int, default=1, help="runscheduler --verbosity")
    parser.add_argument("--conn-max-age", default="0", help="seconds, or 'none' (persistent)")
    parser.add_argument("--pg-dsn", default="host=127.0.0.1 port=5432 user=postgres")
    parser.add_argument("--profile", action="store_true", help="cProfile the window (stderr)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # run finally
    if args.schedules < 1 or args.minutes < 1 or args.warmup_minutes < 0:
        parser.error("--schedules and --minutes must be >= 1, --warmup-minutes >= 0")

    configure_django(SETTINGS_MODULE, args.pg_dsn, conn_max_age=args.conn_max_age)
    from django.core.management import call_command

    with (
        scratch_database(args.pg_dsn),
        tempfile.TemporaryDirectory(prefix="durable_bench_", ignore_cleanup_errors=True) as tmp,
    ):
        logs = Path(tmp)
        call_command("migrate", verbosity=0, interactive=False)
        version = _query("SHOW server_version")[0][0]
        print(
            f"Python {platform.python_version()}, Django {django.get_version()}; "
            f"PostgreSQL {version}; {os.cpu_count()} cores ({platform.machine()}); "
            f"runscheduler --no-worker --verbosity {args.verbosity}; CONN_MAX_AGE "
            f"{settings.DATABASES['default']['CONN_MAX_AGE']}"
        )
        measure(args, logs)


if __name__ == "__main__":
    main()
