"""The benchmark's registered names: scheduled workflows and declared queues.

Three workflows carry a ``@scheduled`` decorator (the code-defined schedules);
``WORKFLOW_COUNT`` more are built by ``_report`` so that the schedule rows and runs can
name a realistic spread of registered workflows. ``QUEUE_COUNT`` queues are declared.
None of them runs: the benchmark only reads the admin.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import django_durable as durable

WORKFLOW_COUNT = 200
QUEUE_COUNT = 200

QUEUES = [durable.Queue(f"queue-{i:03d}") for i in range(QUEUE_COUNT)]


@durable.scheduled("0 3 * * *", name="nightly-cleanup")
@durable.workflow()
def nightly_cleanup(scheduled_at: datetime, context: Any) -> None:
    return None


@durable.scheduled("*/5 * * * *", name="sync-inventory", queue_name="queue-000")
@durable.workflow()
def sync_inventory(scheduled_at: datetime, context: Any) -> None:
    return None


@durable.scheduled("0 9 * * 1-5", name="weekday-digest", cron_timezone="Europe/Paris")
@durable.workflow()
def weekday_digest(scheduled_at: datetime, context: Any) -> None:
    return None


def _report(name: str) -> Callable[[datetime, Any], None]:
    @durable.workflow(name=name)
    def report(scheduled_at: datetime, context: Any) -> None:
        return None

    return report


REPORTS = [_report(f"report_{i:03d}") for i in range(WORKFLOW_COUNT)]
