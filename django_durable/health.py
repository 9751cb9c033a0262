"""Health checks for probes: does the database answer, do this host's processes
heartbeat, does every schedule fire on time? (``manage.py durable health``)"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connections

from django_durable import conf, monitoring

CHECKS = ("database", "heartbeat", "schedules")
"""Every check, in the order they run."""

EXIT_CODES = {"database": 1, "heartbeat": 2, "schedules": 3}
"""The exit status of ``durable health`` when a check fails."""


@dataclass(frozen=True, kw_only=True)
class Finding:
    """The outcome of one check."""

    check: str
    """Which check: ``database``, ``heartbeat`` or ``schedules``."""
    ok: bool
    """Whether it passed."""
    message: str
    """One line saying what was found."""


def database() -> Finding:
    """The durable database answers a query."""
    alias = conf.database_alias()
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Finding(check="database", ok=False, message=f"database {alias!r}: {first}")
    return Finding(check="database", ok=True, message=f"database {alias!r} answers")


def heartbeat(now: datetime, *, host: str | None = None, max_age: float | None = None) -> Finding:
    """At least one executor of ``host`` (default: this host) heartbeat within ``max_age``
    seconds (default ``DURABLE["DEAD_EXECUTOR_TIMEOUT"]``)."""
    host = host or socket.gethostname()
    limit = float(max_age if max_age is not None else conf.get("DEAD_EXECUTOR_TIMEOUT"))
    mine = [e for e in monitoring.executors(now) if e.hostname == host]
    fresh = [e for e in mine if (now - e.last_heartbeat_at).total_seconds() <= limit]
    if fresh:
        return Finding(
            check="heartbeat",
            ok=True,
            message=f"{len(fresh)} executor(s) on {host} heartbeat within {limit:g} s",
        )
    if mine:
        newest = mine[0]
        ago = (now - newest.last_heartbeat_at).total_seconds()
        return Finding(
            check="heartbeat",
            ok=False,
            message=f"no executor on {host} heartbeat within {limit:g} s "
            f"(newest: {newest.executor_id}, {ago:.0f} s ago)",
        )
    return Finding(
        check="heartbeat", ok=False, message=f"no executor on {host} has ever heartbeat"
    )


def schedules(now: datetime, *, max_lag: float = monitoring.LATE_AFTER) -> Finding:
    """No active schedule's next fire time is more than ``max_lag`` seconds past."""
    late = monitoring.late_schedules(now, max_lag)
    if not late:
        return Finding(
            check="schedules", ok=True, message=f"no schedule is late by more than {max_lag:g} s"
        )
    worst = late[0]
    behind = (now - worst.next_fire_at).total_seconds() if worst.next_fire_at else 0.0
    count = f"{len(late) - 1}+" if len(late) > 1000 else str(len(late))
    return Finding(
        check="schedules",
        ok=False,
        message=f"{count} schedule(s) late by more than {max_lag:g} s; the latest, "
        f"{worst.schedule_name!r}, by {behind:.0f} s",
    )


def run(
    now: datetime,
    checks: tuple[str, ...] = CHECKS,
    *,
    host: str | None = None,
    max_heartbeat_age: float | None = None,
    max_schedule_lag: float = monitoring.LATE_AFTER,
) -> list[Finding]:
    """The chosen ``checks`` in order; stops at the first that fails (a database that does
    not answer makes the others meaningless)."""
    findings = []
    for name in CHECKS:
        if name not in checks:
            continue
        if name == "database":
            finding = database()
        elif name == "heartbeat":
            finding = heartbeat(now, host=host, max_age=max_heartbeat_age)
        else:
            finding = schedules(now, max_lag=max_schedule_lag)
        findings.append(finding)
        if not finding.ok:
            break
    return findings
