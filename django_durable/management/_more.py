"""Subcommands of ``manage.py durable`` beyond listing and operating: ``fork``,
``delete-schedule`` and ``health`` (their parsers and their handlers)."""

from __future__ import annotations

from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from django_durable import health
from django_durable.engine import control
from django_durable.exceptions import DurableError
from django_durable.schedules import api as schedule_api


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise ArgumentTypeError(f"expected a finite number of seconds >= 0, got {value!r}")
    return number


def _checks(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    unknown = [n for n in names if n not in health.CHECKS]
    if unknown or not names:
        raise ArgumentTypeError(
            f"expected some of {', '.join(health.CHECKS)} (comma-separated), got {value!r}"
        )
    return names


def _step(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 1_000_000_000:
        raise ArgumentTypeError(f"expected a step number >= 1, got {value!r}")
    return int(value)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "fork",
        help="Start a new run of a run's workflow from one of its steps.",
        description="Start a new run with the same workflow and inputs that keeps the steps "
        "before --step (default: the failed step, as the admin's retry) and runs the rest; "
        "a worker (runscheduler) executes it. Prints the new run's id.",
    )
    p.add_argument("workflow_id", help="The run to fork.")
    p.add_argument("--step", type=_step, metavar="N", help="First step to run again.")

    p = sub.add_parser(
        "delete-schedule",
        help="Delete runtime schedules.",
        description="Delete runtime schedules (their runs are kept). A code-defined schedule "
        "cannot be deleted: remove its decorator. Exits non-zero if a name is unknown or "
        "code-defined (after handling the others).",
    )
    p.add_argument("names", nargs="+", metavar="name", help="Schedule name(s).")

    p = sub.add_parser(
        "health",
        help="Check the database, this host's heartbeats and late schedules (for probes).",
        description="Exit 0 when the database answers, an executor of this host heartbeat "
        "recently and no schedule is late; otherwise print one line saying what is wrong "
        "and exit 1 (database), 2 (heartbeat) or 3 (late schedules).",
    )
    p.add_argument(
        "--checks",
        type=_checks,
        default=health.CHECKS,
        metavar="LIST",
        help="Checks to run, comma-separated (default: database,heartbeat,schedules).",
    )
    p.add_argument("--host", help="Host whose executors must heartbeat (default: this one).")
    p.add_argument(
        "--max-heartbeat-age",
        type=_seconds,
        metavar="S",
        help="Seconds since the newest heartbeat (default: DURABLE['DEAD_EXECUTOR_TIMEOUT']).",
    )
    p.add_argument(
        "--max-schedule-lag",
        type=_seconds,
        metavar="S",
        default=60.0,
        help="Seconds a schedule may be past its next fire time (default 60).",
    )


class MoreSubcommands:
    """Handlers of ``fork``, ``delete-schedule`` and ``health`` (mixed into the command)."""

    stdout: Any
    stderr: Any

    def _fork(self, options: dict[str, Any]) -> None:
        workflow_id = options["workflow_id"]
        try:
            step = options["step"] or control.failed_step(workflow_id)
            handle = control.fork_workflow(workflow_id, step)
        except DurableError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(handle.workflow_id)

    def _delete_schedule(self, options: dict[str, Any]) -> None:
        failed = 0
        names = list(dict.fromkeys(options["names"]))
        for name in names:
            try:
                deleted = schedule_api.delete_schedule(name)
            except DurableError as exc:
                failed, message = failed + 1, str(exc)
                self.stderr.write(f"{name}: {message}")
                continue
            if not deleted:
                failed += 1
                self.stderr.write(f"{name}: no schedule with this name")
                continue
            self.stdout.write(f"{name}: deleted")
        if failed:
            raise CommandError(f"{failed} of {len(names)} could not be deleted.")

    def _health(self, options: dict[str, Any]) -> None:
        findings = health.run(
            timezone.now(),
            options["checks"],
            host=options["host"],
            max_heartbeat_age=options["max_heartbeat_age"],
            max_schedule_lag=options["max_schedule_lag"],
        )
        failed = [f for f in findings if not f.ok]
        if failed:
            finding = failed[0]
            raise CommandError(
                f"unhealthy: {finding.message}", returncode=health.EXIT_CODES[finding.check]
            )
        self.stdout.write("healthy: " + "; ".join(f.message for f in findings))
