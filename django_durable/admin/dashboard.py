"""The operations dashboard: one page, one indexed query per panel.

Linked from the admin index as "Operations dashboard" (a proxy model without a table) and
shown to users holding ``django_durable.view_dashboard``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Count
from django.db.models.functions import Trunc
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from django_durable import conf, monitoring
from django_durable.admin import display, pictures
from django_durable.models import Dashboard, RunStatus, WorkflowRun

LATE_AFTER = monitoring.LATE_AFTER
"""Seconds after its next fire time at which an active schedule is listed as late."""
LATE_SHOWN = 20
"""Late schedules listed (the count covers them all)."""
EXECUTORS_SHOWN = 50
FAILING_SHOWN = 10


def runs_per_bucket(now: datetime, unit: str, buckets: int) -> dict[str, Any]:
    """Runs created per ``unit`` (``minute`` or ``hour``) over the last ``buckets`` of
    them, by status: one query over the ``created_at`` index."""
    step = timedelta(minutes=1) if unit == "minute" else timedelta(hours=1)
    here = timezone.localtime(now)
    last = here.replace(second=0, microsecond=0)
    if unit == "hour":
        last = last.replace(minute=0)
    starts = [last - step * i for i in range(buckets - 1, -1, -1)]
    rows = (
        WorkflowRun.objects.using(conf.database_alias())
        .filter(created_at__gte=starts[0])
        .annotate(bucket=Trunc("created_at", unit))
        .values_list("bucket", "status")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts = {(bucket, status): n for bucket, status, n in rows}
    columns, peak = pictures.stacked_columns(starts, counts)
    return {
        "columns": columns,
        "peak": peak,
        "total": sum(column.total for column in columns),
        "first": starts[0],
        "width": 10 * len(starts),
        "labels": [starts[0], starts[len(starts) // 2], starts[-1]],
    }


def queues(now: datetime) -> list[dict[str, Any]]:
    """Each queue's waiting and running runs and its oldest waiting run."""
    found = []
    for queue in monitoring.queue_stats():
        age = (now - queue.oldest_due).total_seconds() if queue.oldest_due else None
        found.append(
            {
                "name": display.queue_label(queue.name),
                "waiting": queue.waiting,
                "running": queue.running,
                "age": None if age is None else display.seconds(age) if age > 0 else "deferred",
            }
        )
    return sorted(found, key=lambda e: (-e["waiting"], e["name"]))


def executors(now: datetime) -> list[dict[str, Any]]:
    """Executors by last heartbeat, newest first, alive while within the timeout."""
    return [
        {
            "id": row.executor_id,
            "host": row.hostname,
            "beat": display.when(row.last_heartbeat_at),
            "ago": display.seconds(max((now - row.last_heartbeat_at).total_seconds(), 0)),
            "alive": row.alive,
        }
        for row in monitoring.executors(now, limit=EXECUTORS_SHOWN)
    ]


def late_schedules(now: datetime) -> tuple[list[dict[str, Any]], int]:
    """Active schedules later than ``LATE_AFTER``; and how many there are (capped)."""
    rows = monitoring.late_schedules(now, LATE_AFTER)
    return [
        {
            "pk": row.pk,
            "name": row.schedule_name,
            "due": display.local(row.next_fire_at, row.cron_timezone),
            "late": display.seconds((now - row.next_fire_at).total_seconds())
            if row.next_fire_at
            else "-",
        }
        for row in rows[:LATE_SHOWN]
    ], len(rows)


def failing(now: datetime) -> list[tuple[str, int]]:
    """The workflows with the most failed runs created over the last day (the
    ``(status, created_at)`` index)."""
    rows = (
        WorkflowRun.objects.using(conf.database_alias())
        .filter(
            status__in=(RunStatus.ERROR, RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED),
            created_at__gte=now - timedelta(days=1),
        )
        .values_list("name")
        .annotate(n=Count("*"))
        .order_by("-n", "name")
    )
    return [(name, n) for name, n in rows[:FAILING_SHOWN]]


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The dashboard's page (its "list" URL); the proxy has no other page."""

    class Media:
        css = {"all": ("django_durable/admin.css",)}

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("django_durable.view_dashboard"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.changelist_view)
        return [path("", view, name="django_durable_dashboard_changelist")]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse("Forbidden", status=403)
        now = timezone.now()
        late, late_count = late_schedules(now)
        context = {
            **self.admin_site.each_context(request),
            "title": "Operations dashboard",
            "opts": self.opts,
            "media": self.media,
            "now": display.when(now),
            "hour": runs_per_bucket(now, "minute", 60),
            "day": runs_per_bucket(now, "hour", 24),
            "statuses": [
                (display.STATUS_CLASSES[s], display.STATUS_LABELS[s])
                for s in pictures.CHART_STATUSES
            ],
            "queues": queues(now),
            "executors": executors(now),
            "late": late,
            "late_count": late_count,
            "late_after": display.seconds(LATE_AFTER),
            "failing": failing(now),
        }
        return TemplateResponse(request, "admin/django_durable/dashboard.html", context)
