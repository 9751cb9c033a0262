"""What production watches, read from the database with one indexed query each.

Shared by the admin's dashboard, the Prometheus gauges (``django_durable.metrics``) and
``manage.py durable health``, so the three always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min

from django_durable import conf
from django_durable.models import (
    Executor,
    RunStatus,
    ScheduleStatus,
    WorkflowRun,
    WorkflowSchedule,
)
from django_durable.models.runs import DUE_AT

LATE_AFTER = 60.0
"""Seconds after its next fire time at which an active schedule counts as late."""


@dataclass(frozen=True, kw_only=True)
class QueueStats:
    """The runs of one queue that are not finished."""

    name: str
    """The queue's name (the internal queue's real name)."""
    waiting: int
    """``ENQUEUED`` runs, deferred ones included."""
    running: int
    """``PENDING`` runs: claimed and executing."""
    oldest_due: datetime | None
    """When the longest-waiting run became due (``None`` if none waits)."""


def queue_stats() -> list[QueueStats]:
    """Each queue with runs in flight (the partial ``durable_run_inflight_queue`` index)."""
    rows = (
        WorkflowRun.objects.using(conf.database_alias())
        .filter(status__in=(RunStatus.ENQUEUED, RunStatus.PENDING), queue_name__isnull=False)
        .values_list("queue_name", "status")
        .annotate(n=Count("*"), oldest=Min(DUE_AT))
        .order_by()
    )
    found: dict[str, dict[str, object]] = {}
    for queue_name, status, n, oldest in rows:
        entry = found.setdefault(queue_name, {"waiting": 0, "running": 0, "oldest_due": None})
        if status == RunStatus.ENQUEUED:
            entry["waiting"], entry["oldest_due"] = n, oldest
        else:
            entry["running"] = n
    return [
        QueueStats(name=name, **values)  # type: ignore[arg-type]
        for name, values in sorted(found.items())
    ]


@dataclass(frozen=True, kw_only=True)
class ExecutorStats:
    """One process that runs workflows."""

    executor_id: str
    """Its executor id."""
    hostname: str
    """The host it runs on."""
    last_heartbeat_at: datetime
    """Its last heartbeat."""
    alive: bool
    """Whether that heartbeat is within ``DURABLE["DEAD_EXECUTOR_TIMEOUT"]``."""


def executors(now: datetime, *, limit: int = 1000) -> list[ExecutorStats]:
    """Executors by last heartbeat, newest first (the ``last_heartbeat_at`` index)."""
    timeout = timedelta(seconds=float(conf.get("DEAD_EXECUTOR_TIMEOUT")))
    rows = Executor.objects.using(conf.database_alias()).order_by("-last_heartbeat_at")
    return [
        ExecutorStats(
            executor_id=row.executor_id,
            hostname=row.hostname,
            last_heartbeat_at=row.last_heartbeat_at,
            alive=now - row.last_heartbeat_at <= timeout,
        )
        for row in rows[:limit]
    ]


def late_schedules(
    now: datetime, after: float = LATE_AFTER, *, limit: int = 1001
) -> list[WorkflowSchedule]:
    """Active schedules whose next fire time is more than ``after`` seconds past, most
    late first (the partial ``durable_schedule_due`` index); at most ``limit``."""
    late = (
        WorkflowSchedule.objects.using(conf.database_alias())
        .filter(status=ScheduleStatus.ACTIVE, next_fire_at__lt=now - timedelta(seconds=after))
        .order_by("next_fire_at")
        .only("schedule_id", "schedule_name", "next_fire_at", "cron_timezone", "workflow_name")
    )
    return list(late[:limit])
