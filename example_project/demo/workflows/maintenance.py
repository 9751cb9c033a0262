"""Housekeeping: an hourly sync and a daily cleanup (runtime schedules, applied together by
``setup_demo``), and an hourly task defined in code that runs once per hour however many
``runscheduler`` processes are up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import django_durable as durable
from example_project.demo.models import Metric
from example_project.demo.workflows.classes import API_CLIENTS


@durable.workflow()
def hourly_sync(scheduled_at: datetime, context: Any) -> dict[str, Any]:
    """Pull the changes of the context's source through the production API client (an
    instance-method workflow, run as a child of this one)."""
    return API_CLIENTS["production"].fetch_data(f"{context['source']}/changes")


@durable.transaction()
def cleanup_old_data(before: datetime) -> int:
    """Delete the metrics older than ``before``; how many."""
    deleted, _ = Metric.objects.filter(timestamp__lt=before).delete()
    return int(deleted)


@durable.workflow()
def daily_cleanup(scheduled_at: datetime, context: Any) -> int:
    """Delete the metrics older than the context's ``retention_days``; how many."""
    return cleanup_old_data(scheduled_at - timedelta(days=context["retention_days"]))


@durable.step()
def process_hourly_data(hour: datetime) -> str:
    """The hour's work (here: a summary line)."""
    return f"processed {hour:%Y-%m-%d %H}:00"


@durable.scheduled("0 0 * * * *", name="distributed-task")  # every hour
@durable.workflow()
def distributed_task(scheduled_at: datetime, context: Any) -> str:
    """Runs once per hour across every scheduler: the slot is a run with a deterministic
    id, so a second scheduler firing it finds the run already there."""
    workflow_id = durable.workflow_id()
    durable.logger.info("Running scheduled task: %s", workflow_id)
    return process_hourly_data(scheduled_at)
