"""Benchmark: schedulers firing many per-minute schedules (and a per-second one).

Run from the repository root (PostgreSQL only)::

    .venv/bin/python bench/scheduler_scale.py --schedules 10000 --per-second --minutes 3
    .venv/bin/python bench/scheduler_scale.py --schedules 100000 --schedulers 1,3 --minutes 2

For each number of schedulers (``--schedulers``, side by side in one run) the script
creates a scratch database ``durable_bench_<pid>`` (``--pg-dsn``, default
``host=127.0.0.1 port=5432 user=postgres``), migrates it and writes ``--schedules``
schedules ``* * * * *`` (``minute-000000``, ...) with ONE ``apply_schedules`` call (it
prints how long that took), plus with ``--per-second`` one ``* * * * * *`` schedule
``second``; all run ``scheduled_noop(scheduled_at, context)`` (``bench/schedapp/``). It
starts that many ``manage.py runscheduler --no-worker`` processes (the scheduler only: the
runs stay ENQUEUED, so this measures firing, not execution) with the library's default
settings, lets one minute slot fire as a warm-up and measures ``--minutes`` minutes.

- **lag**: when a run becomes visible to another connection (committed), minus its slot,
  as ``bench/_observer.py`` sees it; for the per-minute slots, the times at which half,
  99 % and all of a slot's runs were visible; for the per-second schedule, p50, p99
  (nearest rank) and max over its slots in the window;
- **checks**: each minute slot of the window has exactly one run of every per-minute
  schedule, each second one run of the per-second schedule, and nothing else;
- **CPU** of each scheduler process over the window (``/proc/<pid>/stat``), as a share of
  one core, and what the machine and PostgreSQL were doing meanwhile;
- **stop**: the schedulers get SIGTERM in the middle of a burst (``--stop-after``
  seconds after a slot); how long each took to exit.

It is a benchmark, not a test: it reports figures from one run and never fails on them.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import django  # noqa: E402

from bench._observer import MINUTE_PREFIX, SECOND_NAME, Observer, burst_lags  # noqa: E402
from bench._scratch import SCRATCH_DATABASE, configure_django, scratch_database  # noqa: E402

SETTINGS_MODULE = "bench.schedapp.settings"
TICK = os.sysconf("SC_CLK_TCK")


def _query(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _cpu(pid: int) -> float:
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (float(fields[11]) + float(fields[12])) / TICK


def _machine() -> tuple[float, dict[str, float]]:
    """(busy CPU seconds of the whole machine, commits per other database) so far."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    rows = _query(
        "SELECT coalesce(datname, ''), xact_commit FROM pg_stat_database "
        "WHERE datname IS DISTINCT FROM current_database()"
    )
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK, {n: float(c) for n, c in rows}


def _others(before: dict[str, float], after: dict[str, float]) -> float:
    """Transactions other databases committed (a dropped one counts all it had)."""
    return sum(abs(after.get(k, 0.0) - before.get(k, 0.0)) for k in {*before, *after})


def _write_schedules(count: int, per_second: bool) -> float:
    from bench.schedapp.workflows import scheduled_noop
    from django_durable import apply_schedules, create_schedule

    entries = [
        {
            "schedule_name": f"{MINUTE_PREFIX}{i:06d}",
            "workflow_fn": scheduled_noop,
            "schedule": "* * * * *",
        }
        for i in range(count)
    ]
    started = time.perf_counter()
    apply_schedules(entries)
    took = time.perf_counter() - started
    if per_second:
        create_schedule(
            schedule_name=SECOND_NAME, workflow_fn=scheduled_noop, schedule="* * * * * *"
        )
    _query("VACUUM ANALYZE django_durable_workflowschedule")
    return took


def _start(count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    procs = []
    for number in range(count):
        argv = [sys.executable, str(REPO_ROOT / "manage.py"), "runscheduler", "--no-worker"]
        argv += ["--settings", SETTINGS_MODULE, "--executor-id", f"bench-{number}"]
        with (logs / f"scheduler-{number}.log").open("wb") as log:
            procs.append(subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=log))
    return procs


def _alive(procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    for number, proc in enumerate(procs):
        if proc.poll() is not None:
            tail = (logs / f"scheduler-{number}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"scheduler {number} exited with {proc.returncode}:\n{tail}")


def _sleep_until(wall: float, procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    while (left := wall - time.time()) > 0:
        _alive(procs, logs)
        time.sleep(min(left, 0.5))


def _stop(procs: list[subprocess.Popen[bytes]]) -> list[float]:
    """SIGTERM each; the seconds each took to exit (a second SIGTERM after 30 s)."""
    sent = time.monotonic()
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    took = []
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, 30 - (time.monotonic() - sent)))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        took.append(time.monotonic() - sent)
    return took


def _checks(first: datetime, minutes: int, schedules: int, per_second: bool) -> list[str]:
    rows = _query(
        "SELECT right(workflow_id, 25) AS slot, count(*), count(DISTINCT schedule_name), "
        "count(*) FILTER (WHERE status <> 'ENQUEUED') FROM django_durable_workflowrun "
        "WHERE schedule_name LIKE %s GROUP BY 1",
        [f"{MINUTE_PREFIX}%"],
    )
    by_slot = {
        datetime.fromisoformat(slot): (n, distinct, other) for slot, n, distinct, other in rows
    }
    lines = []
    for m in range(minutes):
        slot = first + timedelta(minutes=m)
        n, distinct, other = by_slot.get(slot, (0, 0, 0))
        ok = n == distinct == schedules and not other
        lines.append(
            f"  {slot:%H:%M}: {n} runs of {distinct} distinct schedules ({schedules} expected), "
            f"{other} not ENQUEUED" + ("" if ok else "  <-- PROBLEM")
        )
    unexpected = [slot for slot in by_slot if slot.second]
    lines.append(f"  per-minute runs of unexpected slots: {len(unexpected)}")
    if per_second:
        ids = [
            r[0]
            for r in _query(
                "SELECT workflow_id FROM django_durable_workflowrun WHERE schedule_name = %s",
                [SECOND_NAME],
            )
        ]
        slots = {datetime.fromisoformat(i[len(f"sched-{SECOND_NAME}-") :]) for i in ids}
        wanted = {first + timedelta(seconds=s) for s in range(60 * minutes)}
        lines.append(
            f"  per-second: {len(wanted & slots)}/{len(wanted)} slots of the window, "
            f"{len(ids) - len(slots)} duplicated"
            + ("" if wanted <= slots and len(ids) == len(slots) else "  <-- PROBLEM")
        )
    return lines


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)] if ordered else math.nan


def measure(args: argparse.Namespace, schedulers: int, logs: Path) -> dict[str, Any]:
    from django.db import connection

    created = _write_schedules(args.schedules, args.per_second)
    print(
        f"\n=== {schedulers} scheduler(s): {args.schedules} per-minute schedules"
        + (" + 1 per-second" if args.per_second else "")
        + f"; apply_schedules of {args.schedules} entries: {created:.2f} s"
    )
    connection.close()
    observer = Observer(
        args.pg_dsn,
        SCRATCH_DATABASE,
        minute_schedules=args.schedules,
        per_second=args.per_second,
        count_every=0.05 if args.schedules <= 20000 else 0.1,
        margin=0.5 if args.schedules <= 20000 else 1.0,
    )
    observer.start()
    procs = _start(schedulers, logs)
    try:
        warm = (int(time.time() + 15) // 60 + 1) * 60
        start = warm + 60 * args.warmup_minutes
        end = start + 60 * args.minutes
        _sleep_until(start - 1, procs, logs)
        cpu0, machine0 = [_cpu(p.pid) for p in procs], _machine()
        load0 = os.getloadavg()
        connection.close()
        _sleep_until(end - 1, procs, logs)
        cpu1, machine1 = [_cpu(p.pid) for p in procs], _machine()
        load1 = os.getloadavg()
        connection.close()
        _sleep_until(end + args.stop_after, procs, logs)  # the next burst is under way
        stopped = _stop(procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        observer.stop()
    window = end - 1 - (start - 1)
    first = datetime.fromtimestamp(start, UTC)
    print("checks (slots in the window):")
    print("\n".join(_checks(first, args.minutes, args.schedules, args.per_second)))
    result: dict[str, Any] = {"schedulers": schedulers, "apply": created, "stop": stopped}
    print("\nper-minute slots: seconds after the slot until visible to another connection")
    print("| slot  | 50 % of runs | 99 % of runs | all runs |")
    print("|-------|-------------:|-------------:|---------:|")
    bursts = []
    for m in range(args.minutes):
        slot = first + timedelta(minutes=m)
        lags = burst_lags(observer.seen.minute.get(slot, []), slot, args.schedules)
        bursts.append(lags)
        print(f"| {slot:%H:%M} | {lags['p50']:12.3f} | {lags['p99']:12.3f} | {lags['all']:8.3f} |")
    result["bursts"] = bursts
    if args.per_second:
        lags = [
            seen - slot.timestamp()
            for slot, seen in observer.seen.second.items()
            if first <= slot < first + timedelta(minutes=args.minutes)
        ]
        p50, p99, worst = _pct(lags, 0.5), _pct(lags, 0.99), max(lags, default=math.nan)
        result["second"] = (p50, p99, worst)
        print(
            f"\nper-second schedule, {len(lags)} slots: lag p50 {p50 * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms"
        )
    shares = [(c1 - c0) / window * 100 for c0, c1 in zip(cpu0, cpu1, strict=True)]
    result["cpu"] = shares
    busy, others = machine1[0] - machine0[0], _others(machine0[1], machine1[1])
    print(
        f"\nscheduler CPU over {window:.0f} s: "
        + ", ".join(f"{share:.2f} %" for share in shares)
        + f" of one core; whole machine {busy / window * 100 / (os.cpu_count() or 1):.0f} % of "
        f"{os.cpu_count()} cores; load average {load0[0]:.2f} -> {load1[0]:.2f}; other "
        f"databases committed {others:.0f} transactions; observer queries {observer.seen.polls}"
    )
    print("SIGTERM during a burst, seconds to exit: " + ", ".join(f"{s:.2f}" for s in stopped))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--schedules", type=int, default=10000, help="per-minute schedules")
    parser.add_argument("--per-second", action="store_true", help="add a per-second schedule")
    parser.add_argument("--schedulers", default="1", help="comma-separated counts, run in turn")
    parser.add_argument("--minutes", type=int, default=3, help="measured minutes")
    parser.add_argument("--warmup-minutes", type=int, default=1, help="minute slots before")
    parser.add_argument("--stop-after", type=float, default=0.3, help="SIGTERM delay, seconds")
    parser.add_argument("--pg-dsn", default="host=127.0.0.1 port=5432 user=postgres")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.schedulers.split(",")]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # run finally
    if args.schedules < 1 or args.minutes < 1 or min(counts) < 1:
        parser.error("--schedules, --minutes and --schedulers must be >= 1")

    configure_django(SETTINGS_MODULE, args.pg_dsn)
    import tempfile

    from django.core.management import call_command

    results = []
    for count in counts:
        with (
            scratch_database(args.pg_dsn),
            tempfile.TemporaryDirectory(
                prefix="durable_bench_", ignore_cleanup_errors=True
            ) as tmp,
        ):
            call_command("migrate", verbosity=0, interactive=False)
            if not results:
                version = _query("SHOW server_version")[0][0]
                print(
                    f"Python {platform.python_version()}, Django {django.get_version()}; "
                    f"PostgreSQL {version}; {os.cpu_count()} cores ({platform.machine()})"
                )
            results.append(measure(args, count, Path(tmp)))
    if len(results) > 1:
        print("\nside by side (all runs of a slot visible, seconds after the slot, worst minute):")
        base = max(b["all"] for b in results[0]["bursts"])
        for result in results:
            worst = max(b["all"] for b in result["bursts"])
            print(
                f"  {result['schedulers']} scheduler(s): {worst:.2f} s "
                f"(ratio to {results[0]['schedulers']}: {worst / base:.2f})"
            )


if __name__ == "__main__":
    main()
