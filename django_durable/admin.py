"""The Django admin as the operations console for schedules and runs.

Wiring only: every action calls a service function (``django_durable.schedules`` or the
engine's ``control`` module) and reports what it did.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from django_durable import conf, definitions, registry, schedules, serialization
from django_durable.engine import control
from django_durable.exceptions import DurableError
from django_durable.forms import BackfillForm, WorkflowScheduleForm
from django_durable.models import (
    RunStatus,
    ScheduleOrigin,
    StepOutput,
    WorkflowRun,
    WorkflowSchedule,
)

PREVIEW_SLOTS = 3
"""Slots shown at each end of a backfill preview."""

STATUS_COLOURS: dict[str, str] = {
    RunStatus.ENQUEUED: "#6c757d",
    RunStatus.PENDING: "#0d6efd",
    RunStatus.SUCCESS: "#198754",
    RunStatus.ERROR: "#dc3545",
    RunStatus.CANCELLED: "#fd7e14",
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED: "#842029",
}


def _formatted(value: datetime | None, zone: tzinfo) -> str:
    """An instant in ``zone``, to the second, with the zone's abbreviation; ``-`` if none."""
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _local(value: datetime | None, zone_name: str | None) -> str:
    """An instant in a schedule's timezone (UTC when it has none)."""
    return _formatted(value, definitions.zone_or_utc(zone_name))


def _when(value: datetime | None) -> str:
    """An instant in the current timezone."""
    return _formatted(value, timezone.get_current_timezone())


def _run_links(run_ids: list[str]) -> str:
    """Links to the change pages of ``run_ids`` (ids may contain commas, so no ``__in``)."""
    return format_html_join(
        ", ",
        '<a href="{}">{}</a>',
        (
            (reverse("admin:django_durable_workflowrun_change", args=[run_id]), run_id)
            for run_id in run_ids
        ),
    )


# -- filters that never query the table ------------------------------------------------
# With millions of runs a ``list_filter`` on a column runs ``SELECT DISTINCT`` over the
# table on every page. These take their choices from the code (registered workflows,
# declared queues) or from the request, so they cost nothing.


class _ExactFilter(admin.SimpleListFilter):
    """Filters ``parameter_name`` (a model field) on the exact value chosen."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{str(self.parameter_name): value})


class WorkflowNameFilter(_ExactFilter):
    title = "workflow"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in registry.workflow_names()]


class ScheduleWorkflowFilter(WorkflowNameFilter):
    parameter_name = "workflow_name"


class QueueNameFilter(_ExactFilter):
    title = "queue"
    parameter_name = "queue_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = sorted({queue.name for queue in registry.all_queues()})
        return [
            (name, "internal" if name == registry.INTERNAL_QUEUE_NAME else name) for name in names
        ]


class ScheduleNameFilter(_ExactFilter):
    """Runs of one schedule: chosen from a schedule's page ("runs of this schedule");
    the sidebar lists only the schedule in use, never all of them."""

    title = "schedule"
    parameter_name = "schedule_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return True


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most ``CAP + 1`` rows: a full ``COUNT(*)`` of millions of runs is slow,
    and nobody pages past the first hundred pages (filter or search instead)."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return int(self.object_list[: self.CAP + 1].count())  # type: ignore[attr-defined]


class SortableByChangeList(ChangeList):
    """Sorts only by the ``sortable_by`` columns, even when a hand-written ``?o=`` names
    another: on a table of millions of runs that would sort the whole table. The other
    column numbers are dropped from the request; if none is left, the default order
    stays."""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        requested = self.params.get(ORDER_VAR)
        if requested and self.sortable_by is not None:
            kept = [part for part in requested.split(".") if self._sortable(part)]
            if kept:
                self.params[ORDER_VAR] = ".".join(kept)
            else:
                del self.params[ORDER_VAR]
        return super().get_ordering(request, queryset)

    def _sortable(self, part: str) -> bool:
        try:
            name = self.list_display[int(part.rpartition("-")[2])]
        except (IndexError, ValueError):
            return False
        return self.sortable_by is not None and name in self.sortable_by


@admin.register(WorkflowSchedule)
class WorkflowScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WorkflowScheduleForm
    list_display = [
        "schedule_name",
        "workflow_name",
        "schedule",
        "cron_timezone",
        "status",
        "next_fire",
        "last_fired",
        "queue_name",
        "origin",
    ]
    # Timezones are filtered through ``?cron_timezone=`` URLs: a sidebar list of them would
    # cost a ``SELECT DISTINCT`` over all schedules on every page.
    list_filter = ["status", ScheduleWorkflowFilter, QueueNameFilter, "origin"]
    search_fields = ["schedule_name", "workflow_name"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["pause", "resume", "trigger", "backfill"]
    readonly_fields = ["next_fire_times", "runs", "status", "origin", "last_fired", "next_fire"]

    # -- columns -------------------------------------------------------------------------

    @admin.display(description="next fire", ordering="next_fire_at")
    def next_fire(self, obj: WorkflowSchedule) -> str:
        return _local(obj.next_fire_at, obj.cron_timezone)

    @admin.display(description="last fired", ordering="last_fired_at")
    def last_fired(self, obj: WorkflowSchedule) -> str:
        return _local(obj.last_fired_at, obj.cron_timezone)

    @admin.display(description="next 5 fire times")
    def next_fire_times(self, obj: WorkflowSchedule) -> str:
        if obj.pk is None:
            return "Shown once the schedule is saved."
        try:
            cron = obj.definition().cron()
        except DurableError as exc:
            return str(exc)
        from django.utils import timezone

        moment, times = timezone.now(), []
        for _ in range(5):
            moment = cron.next_after(moment)
            times.append((_local(moment, obj.cron_timezone),))
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", times))

    @admin.display(description="runs")
    def runs(self, obj: WorkflowSchedule) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:django_durable_workflowrun_changelist")
        query = urlencode({"schedule_name": obj.schedule_name})
        return format_html('<a href="{}?{}">Runs of this schedule</a>', url, query)

    # -- form ----------------------------------------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None and obj.origin == ScheduleOrigin.CODE:
            fields += [name for name in WorkflowScheduleForm.Meta.fields if name not in fields]
        return fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        defining = list(WorkflowScheduleForm.Meta.fields)
        if obj is None:
            return defining
        return [
            *defining,
            "status",
            "origin",
            "last_fired",
            "next_fire",
            "next_fire_times",
            "runs",
        ]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = schedules.save_schedule(form.definition(), schedule_id=obj.pk if change else None)
        obj.pk, obj._state.adding = saved.pk, False
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.origin == ScheduleOrigin.CODE:
            return False
        return super().has_delete_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A code-defined schedule's page is view-only; pause and resume still work.
        if obj is not None and obj.origin == ScheduleOrigin.CODE:
            return False
        return super().has_change_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for row in queryset.exclude(origin=ScheduleOrigin.CODE):
            schedules.delete_schedule(row.schedule_name)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        schedules.delete_schedule(obj.schedule_name)

    # -- permissions of the custom actions -----------------------------------------------

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_durable.trigger_workflowschedule")

    def has_backfill_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_durable.backfill_workflowschedule")

    # -- actions -------------------------------------------------------------------------

    @admin.action(description="Pause selected schedules", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        names = list(queryset.values_list("schedule_name", flat=True))
        changed = sum(1 for name in names if schedules.pause_schedule(name))
        self.message_user(request, f"Paused {changed} schedule(s).", messages.SUCCESS)

    @admin.action(description="Resume selected schedules", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        names = list(queryset.values_list("schedule_name", flat=True))
        changed = 0
        for name in names:
            try:
                changed += schedules.resume_schedule(name)
            except DurableError as exc:  # a stored cron that no longer parses
                self.message_user(request, f"Not resumed: {name}: {exc}", messages.ERROR)
        self.message_user(
            request,
            f"Resumed {changed} schedule(s); each fires from its next slot.",
            messages.SUCCESS,
        )

    @admin.action(description="Trigger a run of selected schedules now", permissions=["trigger"])
    def trigger(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        run_ids, failures = [], []
        for name in queryset.values_list("schedule_name", flat=True):
            try:
                run_ids.append(schedules.trigger_schedule(name).workflow_id)
            except DurableError as exc:
                failures.append(f"{name}: {exc}")
        if run_ids:
            self.message_user(
                request,
                format_html("Triggered {} run(s): {}.", len(run_ids), _run_links(run_ids)),
                messages.SUCCESS,
            )
        for failure in failures:
            self.message_user(request, f"Not triggered: {failure}", messages.ERROR)

    @admin.action(description="Backfill selected schedules…", permissions=["backfill"])
    def backfill(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        rows = list(queryset)
        zone_name = rows[0].cron_timezone if len({r.cron_timezone for r in rows}) == 1 else None
        zone = definitions.zone_or_utc(zone_name)
        form = BackfillForm(request.POST if "start" in request.POST else None, zone=zone)
        previews: list[dict[str, Any]] = []
        limit = int(conf.get("MAX_BACKFILL"))
        refused = False
        if form.is_valid():
            start, end = form.cleaned_data["start"], form.cleaned_data["end"]
            for row in rows:
                try:
                    slots = schedules.row_slots(row, start, end, limit=limit)
                except DurableError as exc:
                    refused = True
                    previews.append({"schedule": row, "error": str(exc)})
                    continue
                shown: list[datetime | None] = list(slots)
                if len(slots) > 2 * PREVIEW_SLOTS:
                    shown = [*slots[:PREVIEW_SLOTS], None, *slots[-PREVIEW_SLOTS:]]
                previews.append(
                    {
                        "schedule": row,
                        "count": len(slots),
                        "slots": [_local(s, row.cron_timezone) if s else "…" for s in shown],
                    }
                )
            if "apply" in request.POST and not refused:
                created = existing = 0
                for row in rows:
                    result = schedules.backfill(row.schedule_name, start, end)
                    created += len(result.created)
                    existing += len(result.existing)
                self.message_user(
                    request,
                    f"Backfilled {len(rows)} schedule(s): enqueued {created} run(s); "
                    f"{existing} slot(s) already had a run and were not run again.",
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Backfill schedules",
            "opts": self.model._meta,
            "schedules": rows,
            "form": form,
            "previews": previews,
            "refused": refused,
            "limit": limit,
            "zone": zone_name or "UTC",
            "mixed_zones": zone_name is None and len({r.cron_timezone for r in rows}) > 1,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/django_durable/backfill.html", context)


class StepOutputInline(admin.TabularInline):  # type: ignore[type-arg]
    model = StepOutput
    fields = ("step_number", "step_name", "started", "duration", "outcome", "child")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ["step_number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="started")
    def started(self, obj: StepOutput) -> str:
        return _when(obj.started_at)

    @admin.display(description="duration")
    def duration(self, obj: StepOutput) -> str:
        if obj.started_at is None:
            return "-"
        return f"{(obj.completed_at - obj.started_at).total_seconds():.3f} s"

    @admin.display(description="output or error")
    def outcome(self, obj: StepOutput) -> str:
        if obj.error:
            return format_html("<pre class='durable-error'>{}</pre>", _error_text(obj.error))
        return format_html("<pre>{}</pre>", _pretty(obj.output))

    @admin.display(description="child workflow")
    def child(self, obj: StepOutput) -> str:
        if not obj.child_workflow_id:
            return "-"
        url = reverse("admin:django_durable_workflowrun_change", args=[obj.child_workflow_id])
        return format_html('<a href="{}">{}</a>', url, obj.child_workflow_id)


def _pretty(text: str | None) -> str:
    if text is None:
        return "-"
    try:
        return repr(serialization.loads(text))
    except DurableError:
        return text


def _error_text(text: str) -> str:
    kind, message = serialization.error_summary(text) or ("?", "")
    traceback = serialization.error_traceback(text)
    return f"{kind}: {message}\n\n{traceback}".rstrip()


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "workflow_id",
        "name",
        "coloured_status",
        "queue_name",
        "schedule_name",
        "created",
        "duration",
    ]
    list_filter = ["status", WorkflowNameFilter, QueueNameFilter, ScheduleNameFilter]
    search_fields = ["workflow_id__exact"]  # the primary key: an index lookup
    date_hierarchy = "created_at"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    # Sorting by another column sorts the whole table; the id and the time are indexed.
    sortable_by = ["workflow_id", "created"]
    ordering = ["-created_at"]
    inlines = [StepOutputInline]
    actions = ["cancel", "resume", "retry_from_failed_step"]
    fields = (
        "workflow_id",
        "name",
        "class_name",
        "config_name",
        "coloured_status",
        "queue_name",
        "priority",
        "run_after",
        "schedule_name",
        "parent",
        "executor_id",
        "recovery_attempts",
        "created",
        "started",
        "completed",
        "duration",
        "inputs_display",
        "outcome",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("django_durable/admin.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SortableByChangeList

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and str(match.url_name).endswith("_changelist"):
            return queryset.defer("inputs", "output", "error")  # the list shows none of them
        return queryset

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # runs are history: `manage.py durable prune` removes finished ones

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_durable.cancel_workflowrun")

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_durable.resume_workflowrun")

    def has_fork_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_durable.fork_workflowrun")

    # -- columns -------------------------------------------------------------------------

    @admin.display(description="status", ordering="status")
    def coloured_status(self, obj: WorkflowRun) -> str:
        colour = STATUS_COLOURS.get(obj.status, "#000")
        return format_html(
            '<span style="color: {}; font-weight: bold">{}</span>', colour, obj.status
        )

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: WorkflowRun) -> str:
        return _when(obj.created_at)

    @admin.display(description="started", ordering="started_at")
    def started(self, obj: WorkflowRun) -> str:
        return _when(obj.started_at)

    @admin.display(description="completed", ordering="completed_at")
    def completed(self, obj: WorkflowRun) -> str:
        return _when(obj.completed_at)

    @admin.display(description="duration")
    def duration(self, obj: WorkflowRun) -> str:
        if obj.started_at is None or obj.completed_at is None:
            return "-"
        return f"{(obj.completed_at - obj.started_at).total_seconds():.3f} s"

    @admin.display(description="parent")
    def parent(self, obj: WorkflowRun) -> str:
        if not obj.parent_id:
            return "-"
        url = reverse("admin:django_durable_workflowrun_change", args=[obj.parent_id])
        return format_html('<a href="{}">{}</a>', url, obj.parent_id)

    @admin.display(description="inputs")
    def inputs_display(self, obj: WorkflowRun) -> str:
        return format_html("<pre>{}</pre>", _pretty(obj.inputs))

    @admin.display(description="output or error")
    def outcome(self, obj: WorkflowRun) -> str:
        if obj.error:
            return format_html("<pre class='durable-error'>{}</pre>", _error_text(obj.error))
        if obj.status == RunStatus.SUCCESS:
            return format_html("<pre>{}</pre>", _pretty(obj.output))
        return "-"

    # -- actions -------------------------------------------------------------------------

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Any], verb: str, operation: Any
    ) -> list[Any]:
        done, failures = [], []
        for workflow_id in queryset.values_list("workflow_id", flat=True):
            try:
                result = operation(workflow_id)
            except DurableError as exc:
                failures.append(f"{workflow_id}: {exc}")
                continue
            if result is not False:
                done.append(result)
        for failure in failures:
            self.message_user(request, f"Not {verb}: {failure}", messages.ERROR)
        return done

    @admin.action(description="Cancel selected runs", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._each(request, queryset, "cancelled", control.cancel_workflow)
        self.message_user(request, f"Cancelled {len(done)} run(s).", messages.SUCCESS)

    @admin.action(description="Resume selected runs", permissions=["resume"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._each(request, queryset, "resumed", control.resume_workflow)
        self.message_user(
            request,
            f"Resumed {len(done)} run(s); a worker runs them from their last step.",
            messages.SUCCESS,
        )

    @admin.action(description="Retry selected runs from their failed step", permissions=["fork"])
    def retry_from_failed_step(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        def fork(workflow_id: str) -> str:
            return control.fork_workflow(workflow_id, control.failed_step(workflow_id)).workflow_id

        done = self._each(request, queryset, "retried", fork)
        if done:
            self.message_user(
                request,
                format_html("Retried as {} new run(s): {}.", len(done), _run_links(done)),
                messages.SUCCESS,
            )
