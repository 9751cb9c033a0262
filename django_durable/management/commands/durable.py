"""``manage.py durable``: look at and operate on runs and schedules, and prune old runs.

Each subcommand parses its input, calls the same service functions as the API and the
admin, and reports. Bad input raises ``CommandError`` before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from django_durable import conf, retention
from django_durable.engine import control
from django_durable.exceptions import DurableError
from django_durable.management import _tables as out
from django_durable.management._arguments import add_subcommands, flat, unique
from django_durable.management._more import MoreSubcommands
from django_durable.models import (
    RunStatus,
    ScheduleStatus,
    StepOutput,
    WorkflowRun,
    WorkflowSchedule,
    waits,
)
from django_durable.schedules import api as schedule_api
from django_durable.schedules import manual


class Command(MoreSubcommands, BaseCommand):
    help = (
        "Operate durable workflows: list and show runs, cancel or resume them, list and "
        "operate schedules, and prune old finished runs. Run 'durable <subcommand> --help' "
        "for each subcommand's options."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_subcommands(parser)

    # -- dispatch ------------------------------------------------------------------------

    def handle(self, *args: Any, **options: Any) -> None:
        handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            "list": self._list,
            "show": self._show,
            "cancel": self._cancel,
            "resume": self._resume,
            "schedules": self._schedules,
            "pause": self._pause,
            "resume-schedule": self._resume_schedule,
            "trigger": self._trigger,
            "backfill": self._backfill,
            "prune": self._prune,
            "fork": self._fork,
            "delete-schedule": self._delete_schedule,
            "health": self._health,
        }
        # The command reports what it did; the services' INFO log lines would say it
        # twice on a console (-v 2 shows them).
        quiet = int(options["verbosity"]) < 2
        durable_logger = logging.getLogger("django_durable")
        level = durable_logger.level
        if quiet and durable_logger.getEffectiveLevel() < logging.WARNING:
            durable_logger.setLevel(logging.WARNING)
        try:
            handlers[options["subcommand"]](options)
        finally:
            durable_logger.setLevel(level)

    def _lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.stdout.write(line)

    # -- runs ----------------------------------------------------------------------------

    def _list(self, options: dict[str, Any]) -> None:
        since, until = options["since"], options["until"]
        if since is not None and until is not None and since >= until:
            raise CommandError(
                f"--since {since.isoformat()} must be before --until {until.isoformat()}."
            )
        qs = WorkflowRun.objects.using(conf.database_alias()).only(
            "workflow_id",
            "name",
            "class_name",
            "status",
            "queue_name",
            "schedule_name",
            "created_at",
            "started_at",
            "completed_at",
        )
        for field, values in (
            ("status", flat(options["status"])),
            ("name", flat(options["workflow"])),
            ("queue_name", flat(options["queue"])),
            ("schedule_name", flat(options["schedule"])),
        ):
            if values is not None:
                qs = qs.filter(**{f"{field}__in": values})
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        if until is not None:
            qs = qs.filter(created_at__lt=until)
        limit = options["limit"]
        runs = list(qs.order_by("-created_at", "-workflow_id")[: limit + 1])
        if not runs:
            self.stdout.write("No runs match.")
            return
        zone = out.zone_label()
        rows = [
            [
                run.workflow_id,
                run.name,
                str(run.status),
                run.queue_name or out.EMPTY,
                run.schedule_name or out.EMPTY,
                out.local_time(run.created_at),
                out.elapsed(run.started_at, run.completed_at),
            ]
            for run in runs[:limit]
        ]
        headers = ["ID", "WORKFLOW", "STATUS", "QUEUE", "SCHEDULE", f"CREATED ({zone})"]
        self._lines(out.table([*headers, "DURATION"], rows))
        if len(runs) > limit:
            self.stdout.write(f"(newest {limit} shown; more match: raise --limit or filter)")

    def _show(self, options: dict[str, Any]) -> None:
        workflow_id = options["workflow_id"]
        alias = conf.database_alias()
        run = WorkflowRun.objects.using(alias).filter(pk=workflow_id).first()
        if run is None:
            raise CommandError(f"No run with id {workflow_id!r}.")
        zone = out.zone_label()
        fields = [
            ("Run", run.workflow_id),
            ("Workflow", run.name),
            ("Class", run.class_name or out.EMPTY),
            ("Config", run.config_name or out.EMPTY),
            ("Status", str(run.status)),
            ("Queue", run.queue_name or out.EMPTY),
            ("Priority", str(run.priority)),
            ("Deduplication id", run.deduplication_id or out.EMPTY),
            ("Schedule", run.schedule_name or out.EMPTY),
            ("Parent", run.parent_id or out.EMPTY),
            ("Executor", run.executor_id or out.EMPTY),
            ("Recovery attempts", str(run.recovery_attempts)),
            (f"Created ({zone})", out.local_time(run.created_at)),
            (f"Started ({zone})", out.local_time(run.started_at)),
            (f"Completed ({zone})", out.local_time(run.completed_at)),
            ("Duration", out.elapsed(run.started_at, run.completed_at)),
        ]
        if run.status == RunStatus.ENQUEUED and run.waiting_for:
            what = waits.describe(run.waiting_for, run.wait_key, run.wait_workflow_id)
            fields.insert(
                5, ("Parked", f"waiting for {what}, until {out.local_time(run.run_after)}")
            )
        if run.deadline is not None:
            fields.append((f"Deadline ({zone})", out.local_time(run.deadline)))
        width = max(len(label) for label, _ in fields)
        self._lines(f"{label.ljust(width)}  {value}" for label, value in fields)
        self.stdout.write("\nInputs:")
        self.stdout.write(out.indent(self._inputs(run.inputs)))
        if run.error:
            self.stdout.write("\nError:")
            self.stdout.write(out.indent(out.error_text(run.error)))
        elif run.status == RunStatus.SUCCESS:
            self.stdout.write("\nOutput:")
            self.stdout.write(out.indent(out.pretty(out.stored_value(run.output))))
        self._show_steps(run.workflow_id, alias, zone)

    @staticmethod
    def _inputs(text: str) -> str:
        decoded = out.stored_value(text)
        if isinstance(decoded, dict) and set(decoded) == {"args", "kwargs"}:
            return f"args: {out.pretty(decoded['args'])}\nkwargs: {out.pretty(decoded['kwargs'])}"
        return out.pretty(decoded)

    def _show_steps(self, workflow_id: str, alias: str, zone: str) -> None:
        steps = list(StepOutput.objects.using(alias).filter(run_id=workflow_id))
        if not steps:
            self.stdout.write("\nSteps: none recorded")
            return
        self.stdout.write(f"\nSteps ({len(steps)}):")
        rows = [
            [
                str(step.step_number),
                step.step_name,
                out.local_time(step.started_at),
                out.elapsed(step.started_at, step.completed_at),
                step.child_workflow_id or out.EMPTY,
                f"ERROR {out.error_line(step.error)}" if step.error else out.one_line(step.output),
            ]
            for step in steps
        ]
        headers = ["#", "NAME", f"STARTED ({zone})", "DURATION", "CHILD", "OUTPUT OR ERROR"]
        self._lines(out.indent(line) for line in out.table(headers, rows))
        for step in steps:
            if step.error:
                self.stdout.write(f"\nStep {step.step_number} ({step.step_name}) error:")
                self.stdout.write(out.indent(out.error_text(step.error)))

    def _each(self, items: list[str], operation: Callable[[str], str], verb: str) -> None:
        """Apply ``operation`` to each item, reporting each; fail after all if any failed."""
        failed = 0
        for item in items:
            try:
                message = operation(item)
            except (DurableError, CommandError) as exc:
                failed += 1
                self.stderr.write(f"{item}: {exc}")
                continue
            self.stdout.write(message)
        if failed:
            raise CommandError(f"{failed} of {len(items)} could not be {verb}.")

    def _cancel(self, options: dict[str, Any]) -> None:
        def cancel(workflow_id: str) -> str:
            if control.cancel_workflow(workflow_id):
                return f"{workflow_id}: cancelled"
            status = (
                WorkflowRun.objects.using(conf.database_alias())
                .filter(pk=workflow_id)
                .values_list("status", flat=True)
                .first()
            )
            raise CommandError(f"already finished ({status}); not cancelled")

        self._each(unique(options["workflow_ids"]), cancel, "cancelled")

    def _resume(self, options: dict[str, Any]) -> None:
        def resume(workflow_id: str) -> str:
            control.resume_workflow(workflow_id)
            return f"{workflow_id}: resumed (enqueued for a worker)"

        self._each(unique(options["workflow_ids"]), resume, "resumed")

    # -- schedules -----------------------------------------------------------------------

    def _schedules(self, options: dict[str, Any]) -> None:
        found = schedule_api.list_schedules(
            status=flat(options["status"]),
            workflow_name=flat(options["workflow"]),
            schedule_name_prefix=flat(options["prefix"]),
        )
        if not found:
            self.stdout.write("No schedules match.")
            return
        names = [item["schedule_name"] for item in found]
        origins = dict(
            WorkflowSchedule.objects.using(conf.database_alias())
            .filter(schedule_name__in=names)
            .values_list("schedule_name", "origin")
        )
        rows = [
            [
                item["schedule_name"],
                item["workflow_name"],
                item["schedule"],
                item["cron_timezone"] or "UTC",
                item["status"],
                self._next_fire(item),
                out.local_time(_parsed(item["last_fired_at"])),
                item["queue_name"] or out.EMPTY,
                origins.get(item["schedule_name"], out.EMPTY),
            ]
            for item in found
        ]
        headers = ["NAME", "WORKFLOW", "CRON", "TIMEZONE", "STATUS", "NEXT FIRE (ITS TZ)"]
        headers += [f"LAST FIRED ({out.zone_label()})", "QUEUE", "ORIGIN"]
        self._lines(out.table(headers, rows))

    @staticmethod
    def _next_fire(item: dict[str, Any]) -> str:
        if item["status"] != ScheduleStatus.ACTIVE:
            return out.EMPTY  # a paused schedule's next slot is chosen when it resumes
        when = _parsed(item["next_fire_at"])  # already in the schedule's timezone
        return when.isoformat(sep=" ", timespec="seconds") if when else out.EMPTY

    def _pause(self, options: dict[str, Any]) -> None:
        def pause(name: str) -> str:
            before = schedule_api.get_schedule(name)
            if before is None or not schedule_api.pause_schedule(name):
                raise CommandError(f"no schedule named {name!r}")
            if before["status"] == ScheduleStatus.PAUSED:
                return f"{name}: already paused"
            return f"{name}: paused"

        self._each(unique(options["names"]), pause, "paused")

    def _resume_schedule(self, options: dict[str, Any]) -> None:
        def resume(name: str) -> str:
            before = schedule_api.get_schedule(name)
            if before is None or not schedule_api.resume_schedule(name):
                raise CommandError(f"no schedule named {name!r}")
            if before["status"] == ScheduleStatus.ACTIVE:
                return f"{name}: already active"
            after = schedule_api.get_schedule(name) or before
            zone = after["cron_timezone"] or "UTC"
            return f"{name}: resumed; next fire {self._next_fire(after)} ({zone})"

        self._each(unique(options["names"]), resume, "resumed")

    def _trigger(self, options: dict[str, Any]) -> None:
        try:
            handle = manual.trigger_schedule(options["name"])
        except DurableError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(handle.workflow_id)

    def _backfill(self, options: dict[str, Any]) -> None:
        name, start, end = options["name"], options["start"], options["end"]
        if start >= end:
            raise CommandError(
                f"--start {start.isoformat()} must be before --end {end.isoformat()}."
            )
        try:
            start, end = manual.backfill_range(start, end)
        except DurableError as exc:
            raise CommandError(str(exc)) from exc
        limit = int(conf.get("MAX_BACKFILL"))
        try:
            slots = manual.backfill_slots(name, start, end, limit=limit)
        except DurableError as exc:
            raise CommandError(str(exc)) from exc
        if not slots:
            self.stdout.write(
                f"No slot of {name!r} between {start.isoformat()} and {end.isoformat()}; "
                f"nothing to backfill."
            )
            return
        chunk, total = options["chunk_size"], len(slots)
        tty = self.stdout.isatty()
        created = existing = 0
        for first in range(0, total, chunk):
            try:
                result = manual.enqueue_slots(name, slots[first : first + chunk])
            except DurableError as exc:
                if tty and first:
                    self.stdout.write("")
                raise CommandError(
                    f"{exc} ({first} of {total} slot(s) were handled before this error.)"
                ) from exc
            created += len(result.created)
            existing += len(result.existing)
            done = first + len(result.slots)
            if tty:
                self.stdout.write(f"\r{out.progress_bar(done, total)} slots", ending="")
                self.stdout.flush()
            else:
                self.stdout.write(f"{done}/{total} slots")
        if tty:
            self.stdout.write("")
        self.stdout.write(
            f"Backfilled {name!r}: {total} slot(s) between {start.isoformat()} and "
            f"{end.isoformat()}; {created} enqueued, {existing} already had a run."
        )

    # -- retention -----------------------------------------------------------------------

    def _prune(self, options: dict[str, Any]) -> None:
        try:
            result = retention.prune_runs(
                options["older_than"],
                now=timezone.now(),
                statuses=flat(options["status"]),
                workflow=flat(options["workflow"]),
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        cutoff = f"{out.local_time(result.cutoff)} ({out.zone_label()})"
        if result.dry_run:
            self.stdout.write(
                f"Dry run: would delete {result.runs} run(s) and {result.steps} step(s) "
                f"finished before {cutoff}."
            )
        else:
            self.stdout.write(
                f"Deleted {result.runs} run(s) and {result.steps} step(s) finished before "
                f"{cutoff}, in {result.batches} batch(es)."
            )
        if result.runs_by_status:
            rows = [[status, str(count)] for status, count in result.runs_by_status.items()]
            self._lines(out.indent(line) for line in out.table(["STATUS", "RUNS"], rows))


def _parsed(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
