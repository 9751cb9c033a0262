"""``manage.py setup_demo``: the superuser, the runtime schedules and a welcome
notification of the example project. Running it again changes nothing."""

from __future__ import annotations

import logging
from argparse import ArgumentTypeError
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

import django_durable as durable
from example_project.demo import schedules
from example_project.demo.workflows.notifications import (
    delayed_notification_workflow,
    notifications_queue,
)

WELCOME_ID = "demo-welcome-notification"
"""The welcome notification's workflow id: the idempotency key of its enqueue."""


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise ArgumentTypeError(f"expected a finite number of seconds >= 0, got {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Create the demo's superuser (admin/admin), write its runtime schedules and enqueue "
        "its welcome notification; what exists already is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--username", default="admin", help="Superuser to create (default: admin)."
        )
        parser.add_argument(
            "--password", default="admin", help="Its password if created (default: admin)."
        )
        parser.add_argument(
            "--notification-delay",
            type=_seconds,
            default=30.0,
            help="Seconds the welcome notification sleeps durably (default 30).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Each step prints its own line; the INFO log lines of the calls below would say
        # the same on the console (-v 2 shows them).
        loggers = [logging.getLogger(name) for name in ("django_durable", "example_project")]
        levels = [logger.level for logger in loggers]
        if int(options["verbosity"]) < 2:
            for logger in loggers:
                logger.setLevel(logging.WARNING)
        try:
            self._superuser(options["username"], options["password"])
            self._schedules()
            self._welcome(options["notification_delay"], options["username"])
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    def _superuser(self, username: str, password: str) -> None:
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(f"Superuser {username} exists (kept as is).")
        else:
            users.create_superuser(username, f"{username}@example.com", password)
            self.stdout.write(f"Created superuser {username} (password: {password}).")

    def _schedules(self) -> None:
        applied = durable.apply_schedules(schedules.APPLIED)
        self.stdout.write(
            f"Applied {len(applied)} schedules: "
            f"{', '.join(item['schedule_name'] for item in applied)}."
        )
        for entry in schedules.CREATED:
            try:
                durable.create_schedule(**entry)
            except durable.ScheduleConflict:
                self.stdout.write(f"Schedule {entry['schedule_name']} exists (kept as is).")
            else:
                self.stdout.write(f"Created schedule {entry['schedule_name']}.")

    def _welcome(self, delay: float, username: str) -> None:
        if durable.list_workflows(workflow_ids=WELCOME_ID):
            self.stdout.write(f"Welcome notification {WELCOME_ID} exists (not sent again).")
            return
        with durable.SetWorkflowID(WELCOME_ID):
            notifications_queue.enqueue(
                delayed_notification_workflow,
                username,
                "Welcome to the django_durable demo!",
                delay_seconds=delay,
            )
        self.stdout.write(
            f"Enqueued welcome notification {WELCOME_ID} (sent {delay:g}s after it starts)."
        )
