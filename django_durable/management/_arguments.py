"""The arguments of ``manage.py durable``: its subcommands, their options and value types.

Every value is checked while parsing, so bad input stops the command before it reads or
writes anything.
"""

from __future__ import annotations

import re
from argparse import ArgumentTypeError
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from django.core.management.base import CommandError, CommandParser

from django_durable import retention
from django_durable.management import _more
from django_durable.models import RunStatus, ScheduleStatus

_DURATION = re.compile(r"([0-9]+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class SubcommandParser(CommandParser):
    """A subcommand's parser: a bad option value is one line on stderr (and exit status
    2), not the usage text followed by the error."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise CommandError(f"Error: {message}")


def add_subcommands(parser: CommandParser) -> None:
    """Add every subcommand of ``durable`` to ``parser``; the chosen one is ``subcommand``."""
    sub = parser.add_subparsers(
        title="subcommands",
        dest="subcommand",
        metavar="SUBCOMMAND",
        required=True,
        parser_class=SubcommandParser,
    )
    _add_run_parsers(sub)
    _add_schedule_parsers(sub)
    _add_prune_parser(sub)
    _more.add_parsers(sub)


MAX_INT = 2**31 - 1
"""The largest count an option takes: the range of a database integer column, far above
any useful limit, batch or chunk size."""


def positive_int(value: str) -> int:
    """An argparse type: a whole number from 1 to ``MAX_INT``."""
    try:
        number = int(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a whole number, got {value[:40]!r}") from None
    if number < 1:
        raise ArgumentTypeError(f"expected a number >= 1, got {value!r}")
    if number > MAX_INT:
        raise ArgumentTypeError(f"expected a number <= {MAX_INT}, got {value[:40]!r}")
    return number


def _instant(value: str) -> datetime:
    """An ISO 8601 date or datetime; naive means UTC, a date means its midnight."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ArgumentTypeError(
            f"expected an ISO 8601 date or datetime (2026-01-31 or 2026-01-31T09:30:00+01:00), "
            f"got {value!r}"
        ) from None
    aware = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    try:
        aware.astimezone(UTC)
    except OverflowError:
        raise ArgumentTypeError(f"{value!r} is out of the range of dates") from None
    return aware


def _age(value: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``3600s`` or ``2w``."""
    match = _DURATION.fullmatch(value.strip().lower())
    if match is None:
        raise ArgumentTypeError(
            f"expected a number and a unit s, m, h, d or w (30d, 12h, 90m, 3600s, 2w), "
            f"got {value!r}"
        )
    amount = int(match.group(1))
    if amount < 1:
        raise ArgumentTypeError(f"expected a duration > 0, got {value!r}")
    try:
        return timedelta(**{_UNITS[match.group(2)]: amount})
    except OverflowError:
        raise ArgumentTypeError(f"duration {value!r} is too large") from None


def _choice_list(allowed: Iterable[str], what: str) -> Callable[[str], list[str]]:
    """A comma-separated list of ``allowed`` values (case-insensitive)."""
    choices = list(allowed)

    def parse(value: str) -> list[str]:
        items = [item.strip().upper() for item in value.split(",") if item.strip()]
        if not items:
            raise ArgumentTypeError(f"expected at least one {what}, got {value!r}")
        wrong = [item for item in items if item not in choices]
        if wrong:
            raise ArgumentTypeError(
                f"unknown {what} {', '.join(wrong)}; choose from {', '.join(choices)}"
            )
        return items

    return parse


def _prunable_statuses(value: str) -> list[str]:
    items = _choice_list(RunStatus.values, "status")(value)
    kept = [item for item in items if item not in retention.PRUNABLE_STATUSES]
    if kept:
        raise ArgumentTypeError(
            f"{', '.join(kept)} runs are never pruned; choose from "
            f"{', '.join(retention.PRUNABLE_STATUSES)}"
        )
    return items


def _name_list(value: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ArgumentTypeError(f"expected at least one name, got {value!r}")
    return items


def flat(groups: list[list[str]] | None) -> list[str] | None:
    """The values of a repeatable comma-list option, in order, without duplicates."""
    if groups is None:
        return None
    return list(dict.fromkeys(item for group in groups for item in group))


def unique(values: Iterable[str]) -> list[str]:
    """``values`` in order, without duplicates."""
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------- parsers


def _subparser(sub: Any, name: str, summary: str, description: str) -> CommandParser:
    parser: CommandParser = sub.add_parser(name, help=summary, description=description)
    return parser


def _add_run_parsers(sub: Any) -> None:
    statuses = _choice_list(RunStatus.values, "status")
    p = _subparser(
        sub,
        "list",
        "List runs, newest first.",
        "List runs, newest first, as a table. Filters combine with AND. Times are in "
        "the current timezone (TIME_ZONE).",
    )
    p.add_argument(
        "--status",
        action="append",
        type=statuses,
        help=f"Only these statuses (repeatable or comma-separated): "
        f"{', '.join(RunStatus.values)}.",
    )
    p.add_argument(
        "--workflow", action="append", type=_name_list, metavar="NAME", help="Workflow name(s)."
    )
    p.add_argument(
        "--queue", action="append", type=_name_list, metavar="NAME", help="Queue name(s)."
    )
    p.add_argument(
        "--schedule", action="append", type=_name_list, metavar="NAME", help="Schedule name(s)."
    )
    p.add_argument(
        "--since",
        type=_instant,
        metavar="ISO",
        help="Created at or after this ISO date or datetime (naive means UTC).",
    )
    p.add_argument(
        "--until",
        type=_instant,
        metavar="ISO",
        help="Created before this ISO date or datetime (naive means UTC; a date means "
        "its midnight, so it is excluded).",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        default=50,
        help="Most runs shown (default 50).",
    )

    p = _subparser(
        sub,
        "show",
        "Show one run and its steps.",
        "Show one run: its fields, inputs, output or error (with traceback), then its steps.",
    )
    p.add_argument("workflow_id", help="The run's id.")

    p = _subparser(
        sub,
        "cancel",
        "Cancel runs.",
        "Cancel enqueued or running runs: their remaining steps do not run. Exits "
        "non-zero if any id is unknown or already finished (after handling the others).",
    )
    p.add_argument("workflow_ids", nargs="+", metavar="workflow_id", help="Run id(s).")

    p = _subparser(
        sub,
        "resume",
        "Resume cancelled, failed or given-up runs.",
        "Enqueue cancelled, failed or given-up runs on the internal queue; a worker "
        "(runscheduler) runs each from its last recorded step. Exits non-zero if any id "
        "is unknown or cannot be resumed (after handling the others).",
    )
    p.add_argument("workflow_ids", nargs="+", metavar="workflow_id", help="Run id(s).")


def _add_schedule_parsers(sub: Any) -> None:
    p = _subparser(
        sub,
        "schedules",
        "List schedules.",
        "List schedules by name. The next fire time is in each schedule's timezone, the "
        "last fire time in the current timezone (TIME_ZONE).",
    )
    p.add_argument(
        "--status",
        action="append",
        type=_choice_list(ScheduleStatus.values, "status"),
        help="ACTIVE or PAUSED (repeatable or comma-separated).",
    )
    p.add_argument(
        "--workflow", action="append", type=_name_list, metavar="NAME", help="Workflow name(s)."
    )
    p.add_argument(
        "--prefix",
        action="append",
        type=_name_list,
        metavar="PREFIX",
        help="Schedule name prefix(es).",
    )

    p = _subparser(
        sub,
        "pause",
        "Pause schedules.",
        "Pause schedules: they stop firing until resumed. Exits non-zero if a name is "
        "unknown (after handling the others).",
    )
    p.add_argument("names", nargs="+", metavar="name", help="Schedule name(s).")

    p = _subparser(
        sub,
        "resume-schedule",
        "Resume paused schedules.",
        "Resume paused schedules: each fires again from its next slot after now (the "
        "paused time is not made up). Exits non-zero if a name is unknown.",
    )
    p.add_argument("names", nargs="+", metavar="name", help="Schedule name(s).")

    p = _subparser(
        sub,
        "trigger",
        "Enqueue a run of a schedule now.",
        "Enqueue one run of a schedule now, even if it is paused, and print its id.",
    )
    p.add_argument("name", help="Schedule name.")

    p = _subparser(
        sub,
        "backfill",
        "Enqueue a schedule's slots in a past range.",
        "Enqueue every slot of a schedule strictly between --start and --end, even if it "
        "is paused. Slots that already have a run are skipped. More slots than "
        "DURABLE['MAX_BACKFILL'] are refused and nothing is enqueued.",
    )
    p.add_argument("name", help="Schedule name.")
    p.add_argument(
        "--start",
        type=_instant,
        metavar="ISO",
        required=True,
        help="ISO date or datetime (naive: UTC).",
    )
    p.add_argument(
        "--end",
        type=_instant,
        metavar="ISO",
        required=True,
        help="ISO date or datetime (naive: UTC).",
    )
    p.add_argument(
        "--chunk-size",
        type=positive_int,
        metavar="N",
        default=100,
        help="Slots enqueued per transaction (default 100).",
    )


def _add_prune_parser(sub: Any) -> None:
    p = _subparser(
        sub,
        "prune",
        "Delete old finished runs and their steps.",
        "Delete finished runs (SUCCESS, ERROR, CANCELLED, MAX_RECOVERY_ATTEMPTS_EXCEEDED) "
        "that finished before the cutoff, with their steps, in batches; ENQUEUED and "
        "PENDING runs are never deleted, nor a child run whose parent is in flight or "
        "finished after the cutoff.",
    )
    p.add_argument(
        "--older-than",
        type=_age,
        metavar="AGE",
        required=True,
        help="Age of the cutoff: 30d, 12h, 90m, 3600s or 2w.",
    )
    p.add_argument(
        "--status",
        action="append",
        type=_prunable_statuses,
        help="Only these finished statuses (repeatable or comma-separated).",
    )
    p.add_argument(
        "--workflow", action="append", type=_name_list, metavar="NAME", help="Workflow name(s)."
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        default=1000,
        help="Runs deleted per transaction (default 1000).",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="Print the counts per status; delete nothing."
    )
