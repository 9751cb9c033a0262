"""Data for the browser tests, and what they check on every page."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

import django_durable as durable
from django_durable.models import Executor, WorkflowRun, WorkflowSchedule
from django_durable.schedules import sync_code_schedules
from tests import workflows

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("DURABLE_SCREENSHOTS", ROOT / "screenshots"))
"""Where the browser tests write the admin's screenshots (gitignored)."""

WIDTHS = (1280, 1440, 1920)
"""Screen widths people use: a laptop, a larger laptop, a desktop."""

SCHEDULES = "/admin/django_durable/workflowschedule/"
RUNS = "/admin/django_durable/workflowrun/"
DASHBOARD = "/admin/django_durable/dashboard/"


def write_data() -> dict[str, Any]:
    """Schedules and runs an operator would see: long names, several zones, a paused and
    a code-defined schedule, succeeded, failed, retried, nested and waiting runs."""
    sync_code_schedules(timezone.now())
    for name, cron, zone, queue in (
        ("nightly-backup-of-the-production-database", "0 2 * * *", "America/New_York", None),
        (
            "reports-eu-weekly-summary-for-management",
            "30 6 * * 1",
            "Europe/Paris",
            "queues-scheduled",
        ),
        ("every-minute-metrics", "* * * * *", None, None),
        ("every-ten-seconds", "*/10 * * * * *", "Asia/Tokyo", "queues-scheduled"),
    ):
        durable.create_schedule(
            schedule_name=name,
            workflow_fn=workflows.scheduled_report,
            schedule=cron,
            cron_timezone=zone,
            queue_name=queue,
            context={"team": "ops", "region": "eu-west-1"},
        )
    durable.pause_schedule("reports-eu-weekly-summary-for-management")
    WorkflowSchedule.objects.update(created_at=timezone.now() - timedelta(hours=2))
    with durable.SetWorkflowID("browser-three-steps"):
        workflows.three_steps(2)
    with durable.SetWorkflowID("browser-family"):
        workflows.parent(1)
    with durable.SetWorkflowID("browser-failed"):
        try:
            workflows.failing_workflow(42)
        except workflows.PaymentDeclined:
            pass
    workflows.ATTEMPTS.clear()
    with durable.SetWorkflowID("browser-retries"):
        try:
            workflows.picky_workflow("connection")
        except durable.MaxStepRetriesExceeded:
            pass
    trigger = durable.trigger_schedule("nightly-backup-of-the-production-database").workflow_id
    durable.backfill_schedule(
        "every-minute-metrics",
        timezone.now() - timedelta(minutes=20),
        timezone.now() - timedelta(minutes=5),
    )
    for index in range(3):
        workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, index)
    Executor.objects.create(executor_id="web-1:4242", hostname="web-1")
    Executor.objects.create(
        executor_id="worker-2:77",
        hostname="worker-2",
        last_heartbeat_at=timezone.now() - timedelta(minutes=10),
    )
    return {
        "trigger": trigger,
        "schedule": WorkflowSchedule.objects.get(schedule_name="every-minute-metrics").pk,
        "code": WorkflowSchedule.objects.get(schedule_name="code-every-5-minutes").pk,
        "runs": WorkflowRun.objects.count(),
    }


OVERFLOW = """() => {
  const doc = document.documentElement;
  const table = document.querySelector('#result_list');
  const results = document.querySelector('#changelist .results');
  const cut = [];
  if (table) {
    const limit = (results || doc).getBoundingClientRect().right + 0.5;
    for (const th of table.querySelectorAll('thead th')) {
      const r = th.getBoundingClientRect();
      if (r.right > limit || r.right > window.innerWidth) {
        cut.push(th.className + ':' + Math.round(r.right));
      }
    }
  }
  return {page: [doc.scrollWidth, doc.clientWidth],
          results: results ? [results.scrollWidth, results.clientWidth] : null, cut};
}"""
"""Whether the page or its changelist is wider than the window, and the columns whose
right edge is past it (cut off)."""


def cut_off(page: Any, label: str) -> list[str]:
    """What is cut off or scrolls sideways on ``page`` (nothing, if it fits)."""
    found = page.evaluate(OVERFLOW)
    problems = []
    if found["page"][0] > found["page"][1]:
        problems.append(f"{label}: the page scrolls sideways {found['page']}")
    if found["results"] is not None and found["results"][0] > found["results"][1]:
        problems.append(f"{label}: the list scrolls sideways {found['results']}")
    if found["cut"]:
        problems.append(f"{label}: columns cut off: {found['cut']}")
    return problems
