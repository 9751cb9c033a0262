"""The demo's runtime schedules (``manage.py setup_demo`` writes them).

Two ways to own a runtime schedule:

- ``APPLIED`` goes through ``durable.apply_schedules``: declarative, all or nothing, and
  re-applying it puts back these definitions (an edit made in the admin is overwritten; a
  pause is kept).
- ``CREATED`` goes through ``durable.create_schedule`` once: afterwards the row belongs to
  the operators, and ``setup_demo`` leaves it as they left it.

The schedules defined in code with ``@durable.scheduled`` (``collect-metrics``,
``daily-report``, ``distributed-task``, ``payment-settlement``, ``data-sync-schedule``) are
not listed here: ``runscheduler`` writes them when it starts.
"""

from __future__ import annotations

import django_durable as durable
from example_project.demo.workflows.backups import backup_database, environment_specific_backup
from example_project.demo.workflows.maintenance import daily_cleanup, hourly_sync
from example_project.demo.workflows.reports import ALL_METRICS, report_workflow

APPLIED: list[durable.ScheduleInput] = [
    {
        "schedule_name": "hourly-sync",
        "workflow_fn": hourly_sync,
        "schedule": "0 0 * * * *",  # every hour
        "context": {"source": "external-api"},
    },
    {
        "schedule_name": "daily-cleanup",
        "workflow_fn": daily_cleanup,
        "schedule": "0 0 3 * * *",  # 03:00 every day
        "context": {"retention_days": 30},
    },
    {
        "schedule_name": "hourly-ops-report",
        "workflow_fn": report_workflow,
        "schedule": "0 0 * * * *",  # every hour
        "context": {
            "report_type": "Hourly Operations",
            "metric_type": "operations",
            "recipients": ["ops-team@example.com"],
            "lookback_hours": 1,
        },
    },
    {
        "schedule_name": "daily-summary",
        "workflow_fn": report_workflow,
        "schedule": "0 0 6 * * *",  # 06:00 every day
        "context": {
            "report_type": "Daily Summary",
            "metric_type": ALL_METRICS,
            "recipients": ["managers@example.com", "executives@example.com"],
            "lookback_hours": 24,
        },
    },
    {
        "schedule_name": "weekly-executive",
        "workflow_fn": report_workflow,
        "schedule": "0 0 9 * * 1",  # Mondays at 09:00
        "context": {
            "report_type": "Weekly Executive Summary",
            "metric_type": "business",
            "recipients": ["ceo@example.com"],
            "lookback_hours": 168,  # 7 days
        },
    },
    {
        "schedule_name": "monthly-financial",
        "workflow_fn": report_workflow,
        "schedule": "0 0 8 1 * *",  # the 1st of each month at 08:00
        "context": {
            "report_type": "Monthly Financial",
            "metric_type": "financial",
            "recipients": ["cfo@example.com", "accounting@example.com"],
            "lookback_hours": 720,  # 30 days
        },
    },
]
"""Written with ``durable.apply_schedules(APPLIED)`` on every ``setup_demo``."""

CREATED: list[durable.ScheduleInput] = [
    {
        "schedule_name": "nightly-backup",
        "workflow_fn": backup_database,
        "schedule": "0 0 2 * * *",  # 02:00 every day
        "context": {"backup_name": "production"},
    },
    {
        "schedule_name": "production-backup",
        "workflow_fn": environment_specific_backup,
        "schedule": "0 0 1 * * *",  # 01:00 every day
        "context": {
            "environment": "production",
            "retention_days": 30,
            "notification_email": "ops@example.com",
        },
    },
    {
        "schedule_name": "staging-backup",
        "workflow_fn": environment_specific_backup,
        "schedule": "0 0 3 * * *",  # 03:00 every day
        "context": {
            "environment": "staging",
            "retention_days": 7,
            "notification_email": "dev@example.com",
        },
    },
]
"""Each written with ``durable.create_schedule(**entry)`` if no schedule has its name yet."""
