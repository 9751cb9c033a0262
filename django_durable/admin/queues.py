"""The queues' admin: each queue's limits, editable; every worker applies a change within
a second. The form checks the settings with the same rule as ``register_queue``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from django_durable import conf
from django_durable.db import notify
from django_durable.models import QueueOrigin, WorkflowQueue
from django_durable.queue_limits import check_name, problems

FIELDS = (
    "concurrency",
    "worker_concurrency",
    "limiter_limit",
    "limiter_period",
    "partition_queue",
    "polling_interval_sec",
    "priority_enabled",
)


class WorkflowQueueForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = WorkflowQueue
        fields = ("name", *FIELDS)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name = data.get("name") or (self.instance.name if self.instance.pk else None)
        if not self.instance.pk:
            problem = check_name(name)
            if problem:
                self.add_error("name", problem)
        limit, period = data.get("limiter_limit"), data.get("limiter_period")
        if (limit is None) != (period is None):
            self.add_error(
                "limiter_period" if period is None else "limiter_limit",
                "Give both the rate limit and its period, or neither.",
            )
            return data
        _, errors = problems(
            {
                "concurrency": data.get("concurrency"),
                "worker_concurrency": data.get("worker_concurrency"),
                "limiter": {"limit": limit, "period": period} if limit is not None else None,
                "priority_enabled": bool(data.get("priority_enabled")),
                "partition_queue": bool(data.get("partition_queue")),
                "polling_interval_sec": data.get("polling_interval_sec"),
            }
        )
        for field, message in errors.items():
            target = "limiter_limit" if field == "limiter" else field
            self.add_error(target if target in self.fields else None, message)
        return data


@admin.register(WorkflowQueue)
class WorkflowQueueAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WorkflowQueueForm
    list_display = [
        "name",
        "concurrency",
        "worker_concurrency",
        "rate",
        "partition_queue",
        "polling",
        "origin",
    ]
    list_filter = ["origin", "partition_queue"]
    search_fields = ["name__startswith"]
    readonly_fields = ["origin", "updated_at"]

    class Media:
        css = {"all": ("django_durable/admin.css",)}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*self.readonly_fields, "name"] if obj is not None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["name", *FIELDS, *(["origin", "updated_at"] if obj is not None else [])]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.origin == QueueOrigin.CODE:
            return False  # it would come back when a worker starts: remove the declaration
        return super().has_delete_permission(request, obj)

    @admin.display(description="rate limit")
    def rate(self, obj: WorkflowQueue) -> str:
        if obj.limiter_limit is None or obj.limiter_period is None:
            return "-"
        return f"{obj.limiter_limit} per {obj.limiter_period:g} s"

    @admin.display(description="polling")
    def polling(self, obj: WorkflowQueue) -> str:
        if obj.polling_interval_sec is None:
            return f"{float(conf.get('POLL_INTERVAL')):g} s (default)"
        return f"{obj.polling_interval_sec:g} s"

    def save_model(
        self, request: HttpRequest, obj: WorkflowQueue, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        notify(conf.database_alias(), obj.name)  # wake idle workers (PostgreSQL)
