"""Side-by-side runs against DBOS Transact (``--compare-dbos`` of the benchmark scripts).

DBOS runs in a virtualenv of its own, ``.venvs/dbos-3.4`` at the repository root, which
:func:`dbos_python` creates with ``pip install "dbos==3.4.*"`` when it is missing or holds
another version; nothing is installed into the project's environment. The DBOS side is
``bench/dbos_program.py``, started with that virtualenv's interpreter against a scratch
database of its own, ``dbos_bench_<pid>``, created empty for each round and dropped after.

:func:`alternate` runs the two sides in turn, ours first (A B A B A B ...), reads the
machine's load average before and after each run, and :func:`report` prints every round
and the median of the per-round ratios. So that a reader can judge how busy the shared
machine was, each run also reports the cores busy during it: the benchmark's own
processes, PostgreSQL (every database, so other people's work too) and anything else.
The scripts import this module after they have put the repository root on ``sys.path``.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
DBOS_SPEC = "dbos==3.4.*"
"""What the DBOS virtualenv installs (with the psycopg it depends on)."""

DBOS_VERSION_PREFIX = "3.4."
DBOS_VENV = REPO_ROOT / ".venvs" / "dbos-3.4"
DBOS_PROGRAM = REPO_ROOT / "bench" / "dbos_program.py"
DBOS_DATABASE = f"dbos_bench_{os.getpid()}"
"""DBOS's scratch database of this process (ours is ``durable_bench_<pid>``)."""


def _installed_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = "from importlib.metadata import version; print(version('dbos'))"
    proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def dbos_python(venv: Path = DBOS_VENV) -> tuple[Path, str]:
    """The DBOS virtualenv's interpreter and DBOS's version; create the virtualenv first
    when it is missing or does not hold DBOS 3.4 (one installer at a time, by a lock)."""
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        version = _installed_version(python)
        if version is None or not version.startswith(DBOS_VERSION_PREFIX):
            print(f">>> creating {venv} with {DBOS_SPEC}", flush=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run([*pip, DBOS_SPEC], check=True)
            version = _installed_version(python)
            if version is None or not version.startswith(DBOS_VERSION_PREFIX):
                raise SystemExit(f"{venv} does not hold DBOS 3.4 after installing it")
    return python, version


def dbos_url(dsn: str, database: str) -> str:
    """DBOS's ``system_database_url`` (SQLAlchemy form) for a libpq ``key=value`` DSN."""
    params = dict(part.split("=", 1) for part in dsn.split())
    user = params.get("user", "postgres")
    password = params.get("password")
    auth = f"{user}:{password}" if password else user
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    return f"postgresql://{auth}@{host}:{port}/{database}"


def run_dbos(python: Path, *args: str) -> dict[str, Any]:
    """Run one command of the DBOS program to its end; its last stdout line is JSON."""
    proc = subprocess.run(
        [str(python), str(DBOS_PROGRAM), *args],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the DBOS program failed (exit {proc.returncode}): {args[0]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def loadavg() -> float:
    """The machine's 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _stat(pid: str) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ..., utime is [11]."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def _postgres_seconds() -> float:
    """CPU seconds of the local PostgreSQL server (every database): its postmasters, their
    live children and the children they reaped; 0 when none runs on this machine."""
    comms: dict[str, tuple[str, list[str]]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            comms[pid] = (comm, _stat(pid))
        except OSError:
            continue  # gone meanwhile
    postmasters = {
        pid
        for pid, (comm, stat) in comms.items()
        if comm == "postgres" and comms.get(stat[1], ("", []))[0] != "postgres"
    }
    jiffies = 0.0
    for pid, (_, stat) in comms.items():
        if pid in postmasters:
            jiffies += sum(float(v) for v in stat[11:15])  # utime, stime, cutime, cstime
        elif stat[1] in postmasters:
            jiffies += float(stat[11]) + float(stat[12])
    return jiffies / os.sysconf("SC_CLK_TCK")


def cpu_sample() -> dict[str, float]:
    """Counters read before and after a run: the machine's busy CPU, this process with its
    reaped children (every process of the run), and PostgreSQL, in CPU seconds."""
    hz = os.sysconf("SC_CLK_TCK")
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": time.monotonic(),
        "busy": (sum(fields[:8]) - fields[3] - fields[4]) / hz,
        "bench": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        "postgres": _postgres_seconds(),
    }


def cores(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Average cores busy between two samples: in all, by the benchmark's processes, by
    PostgreSQL (all its databases: ours and anyone else's) and by anything else."""
    wall = max(after["wall"] - before["wall"], 1e-9)
    used = {k: (after[k] - before[k]) / wall for k in ("busy", "bench", "postgres")}
    used["other"] = used["busy"] - used["bench"] - used["postgres"]
    return used


@dataclass
class Round:
    """One run of one side."""

    side: str
    """``ours`` or ``dbos``."""
    rate: float
    """The figure compared: workflows or runs per second."""
    load_before: float
    """1-minute load average just before the run."""
    load_after: float
    """1-minute load average just after it."""
    cores: dict[str, float] = field(default_factory=dict)
    """Average cores busy during the run (see :func:`cores`)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Whatever else the run measured."""


def alternate(
    rounds: int,
    ours: Callable[[], dict[str, Any]],
    dbos: Callable[[], dict[str, Any]],
    rate_key: str,
) -> list[tuple[Round, Round]]:
    """Run ``ours`` and ``dbos`` in turn, ``rounds`` times each, ours first."""
    pairs = []
    for index in range(rounds):
        pair = []
        for side, run in (("ours", ours), ("dbos", dbos)):
            before, sample = loadavg(), cpu_sample()
            details = run()
            used = cores(sample, cpu_sample())
            after = loadavg()
            pair.append(Round(side, details[rate_key], before, after, used, details))
            print(
                f"  round {index + 1} {side:4}: {details[rate_key]:8.1f}/s "
                f"(load {before:.2f} -> {after:.2f}; {_cores_text(used)})",
                flush=True,
            )
        pairs.append((pair[0], pair[1]))
    return pairs


def _cores_text(used: dict[str, float]) -> str:
    return (
        f"cores busy {used['busy']:.2f} = benchmark {used['bench']:.2f} + PostgreSQL "
        f"{used['postgres']:.2f} + other {used['other']:.2f}"
    )


def report(
    pairs: list[tuple[Round, Round]],
    unit: str,
    extra: Callable[[Round], str] | None = None,
) -> float:
    """Print the rounds and return the median of the per-round ratios ours / DBOS."""
    header = (
        "round",
        f"ours {unit}",
        f"DBOS {unit}",
        "ratio",
        "load before/after (ours, DBOS)",
        "other cores busy (ours, DBOS)",
    )
    rows = [header]
    ratios = []
    for index, (a, b) in enumerate(pairs, start=1):
        ratio = a.rate / b.rate
        ratios.append(ratio)
        loads = f"{a.load_before:.2f}/{a.load_after:.2f}, {b.load_before:.2f}/{b.load_after:.2f}"
        other = f"{a.cores['other']:.2f}, {b.cores['other']:.2f}"
        rows.append((str(index), f"{a.rate:.1f}", f"{b.rate:.1f}", f"{ratio:.2f}", loads, other))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(lines))
    if extra is not None:
        for side in (0, 1):
            for index, pair in enumerate(pairs, start=1):
                r = pair[side]
                print(f"  round {index} {r.side}: {extra(r)}; {_cores_text(r.cores)}")
    median = statistics.median(ratios)
    print(
        f"\nmedian ratio ours / DBOS: {median:.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"ours median {statistics.median(a.rate for a, _ in pairs):.1f} {unit}, "
        f"DBOS median {statistics.median(b.rate for _, b in pairs):.1f} {unit})"
    )
    return median
