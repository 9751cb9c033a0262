"""The demo's own rows in the admin, beside the runs and schedules of django_durable."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from example_project.demo.models import Metric


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: metrics are written by workflows only."""

    list_display = ("timestamp", "metric_type", "value", "workflow_id")
    list_filter = ("metric_type",)
    date_hierarchy = "timestamp"
    search_fields = ("workflow_id",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
