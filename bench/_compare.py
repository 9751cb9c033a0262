"""Side-by-side runs against DBOS Transact (``--compare-dbos`` of the benchmark scripts).

DBOS runs in a virtualenv of its own, ``.venvs/dbos-3.4`` at the repository root, which
:func:`dbos_python` creates with ``pip install "dbos==3.4.*"`` when it is missing or holds
another version; nothing is installed into the project's environment. The DBOS side is
``bench/dbos_program.py``, started with that virtualenv's interpreter against a scratch
database of its own, ``dbos_bench_<pid>``, created empty for each round and dropped after.

:func:`alternate` runs the two sides in turn, ours first (A B A B A B ...), reads the
machine's load average before and after each run, and :func:`report` prints every round
and the median of the per-round ratios. The scripts import this module after they have
put the repository root on ``sys.path``.
"""

from __future__ import annotations

import fcntl
import json
import os
import statistics
import subprocess
import sys
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
            before = loadavg()
            details = run()
            after = loadavg()
            pair.append(Round(side, details[rate_key], before, after, details))
            print(
                f"  round {index + 1} {side:4}: {details[rate_key]:8.1f}/s "
                f"(load {before:.2f} -> {after:.2f})",
                flush=True,
            )
        pairs.append((pair[0], pair[1]))
    return pairs


def report(
    pairs: list[tuple[Round, Round]],
    unit: str,
    extra: Callable[[Round], str] | None = None,
) -> float:
    """Print the rounds and return the median of the per-round ratios ours / DBOS."""
    header = ("round", f"ours {unit}", f"DBOS {unit}", "ratio", "load before/after (ours, DBOS)")
    rows = [header]
    ratios = []
    for index, (a, b) in enumerate(pairs, start=1):
        ratio = a.rate / b.rate
        ratios.append(ratio)
        loads = f"{a.load_before:.2f}/{a.load_after:.2f}, {b.load_before:.2f}/{b.load_after:.2f}"
        rows.append((str(index), f"{a.rate:.1f}", f"{b.rate:.1f}", f"{ratio:.2f}", loads))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    print("\n".join(lines))
    if extra is not None:
        for side in (0, 1):
            for index, pair in enumerate(pairs, start=1):
                print(f"  round {index} {pair[side].side}: {extra(pair[side])}")
    median = statistics.median(ratios)
    print(
        f"\nmedian ratio ours / DBOS: {median:.2f} "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"ours median {statistics.median(a.rate for a, _ in pairs):.1f} {unit}, "
        f"DBOS median {statistics.median(b.rate for _, b in pairs):.1f} {unit})"
    )
    return median
