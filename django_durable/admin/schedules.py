"""The schedules' admin: the list, the form, the schedule page and its buttons."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from django_durable import conf, schedules
from django_durable.admin import display, pictures
from django_durable.admin.backfill import backfill_page
from django_durable.admin.lists import (
    DurableChangeList,
    ScheduleQueueFilter,
    ScheduleWorkflowFilter,
    object_missing,
)
from django_durable.exceptions import DurableError
from django_durable.forms import WorkflowScheduleForm
from django_durable.models import (
    ScheduleOrigin,
    ScheduleStatus,
    WorkflowRun,
    WorkflowSchedule,
)
from django_durable.schedules.fire import slot_run_id

RECENT_SLOTS = 50
"""Slots in a schedule page's strip."""
NEXT_FIRES = 10
"""Fire times listed on a schedule page."""

ALLOWED_LOOKUPS = {
    "status__exact",
    "origin__exact",
    "workflow_name",
    "queue_name",
    "cron_timezone",
}


@admin.register(WorkflowSchedule)
class WorkflowScheduleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = WorkflowScheduleForm
    change_form_template = "admin/django_durable/workflowschedule/change_form.html"
    list_display = [
        "name_and_workflow",
        "cron",
        "status_badge",
        "next_fire",
        "last_fired",
        "queue",
    ]
    # Timezones are filtered through ``?cron_timezone=`` URLs: a sidebar list of them would
    # cost a ``SELECT DISTINCT`` over all schedules on every page.
    list_filter = ["status", ScheduleWorkflowFilter, ScheduleQueueFilter, "origin"]
    search_fields = ["schedule_name", "workflow_name__exact"]
    search_help_text = "A part of the schedule's name, or a workflow's exact name."
    sortable_by = ["name_and_workflow", "status_badge", "next_fire"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["pause", "resume", "trigger", "backfill"]
    readonly_fields = ["status", "origin", "last_fired", "next_fire"]

    class Media:
        css = {"all": ("django_durable/admin.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[DurableChangeList]:
        return DurableChangeList

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in ALLOWED_LOOKUPS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        runs = WorkflowRun.objects.filter(schedule_name=OuterRef("schedule_name"))
        newest = runs.order_by("-created_at").values("created_at")[:1]
        queryset: QuerySet[Any] = super().get_queryset(request)
        annotated: QuerySet[Any] = queryset.annotate(last_run_at=Subquery(newest))
        return annotated

    # -- columns -------------------------------------------------------------------------

    @admin.display(description="schedule", ordering="schedule_name")
    def name_and_workflow(self, obj: WorkflowSchedule) -> str:
        """The name (the link), the workflow under it, and "in code" for @scheduled."""
        origin = " · in code" if obj.origin == ScheduleOrigin.CODE else ""
        return format_html(
            '{}<span class="durable-sub wrap">{}{}</span>',
            obj.schedule_name,
            obj.workflow_name,
            origin,
        )

    @admin.display(description="cron")
    def cron(self, obj: WorkflowSchedule) -> str:
        return format_html(
            '<code class="durable-cron">{}</code><span class="durable-sub">{}</span>',
            obj.schedule,
            obj.cron_timezone or "UTC",
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WorkflowSchedule) -> str:
        return display.badge(obj.status)

    @admin.display(description="next fire", ordering="next_fire_at")
    def next_fire(self, obj: WorkflowSchedule) -> str:
        if obj.status == ScheduleStatus.PAUSED:
            return "- (paused)"
        return _two_lines(display.local(obj.next_fire_at, obj.cron_timezone))

    @admin.display(description="last fired")
    def last_fired(self, obj: WorkflowSchedule) -> str:
        times = [t for t in (obj.last_fired_at, getattr(obj, "last_run_at", None)) if t]
        return _two_lines(display.local(max(times) if times else None, obj.cron_timezone))

    @admin.display(description="queue")
    def queue(self, obj: WorkflowSchedule) -> str:
        return display.queue_label(obj.queue_name)

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
        return [*defining, "status", "origin", "last_fired", "next_fire"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kw: Any
    ) -> Any:
        if obj is not None and not self.has_change_permission(request, obj):
            # A read-only page shows values, not the help for typing them.
            kw["help_texts"] = dict.fromkeys(WorkflowScheduleForm.Meta.fields, "")
        return super().get_form(request, obj, change, **kw)

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

    # -- the schedule page ---------------------------------------------------------------

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self._page(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page(self, request: HttpRequest, obj: WorkflowSchedule) -> dict[str, Any]:
        """The schedule page's pictures: the recent slots and the next fire times."""
        now = timezone.now()
        page: dict[str, Any] = {
            "runs_url": reverse("admin:django_durable_workflowrun_changelist")
            + "?"
            + urlencode({"schedule_name": obj.schedule_name}),
            "can_pause": self.has_pause_permission(request),
            "can_trigger": self.has_trigger_permission(request),
            "can_backfill": self.has_backfill_permission(request),
            "next_fires": [],
            "strip": [],
        }
        try:
            cron = obj.definition().cron()
        except DurableError as exc:
            page["cron_error"] = str(exc)
            return page
        since = min(obj.created_at, obj.last_fired_at or obj.created_at)
        grace = timedelta(seconds=max(2 * float(conf.get("POLL_INTERVAL")), 1.0))
        slots = pictures.recent_slots(cron, since, now - grace, RECENT_SLOTS)
        ids = [slot_run_id(obj.schedule_name, slot) for slot in slots]
        found = WorkflowRun.objects.using(conf.database_alias()).filter(pk__in=ids)
        runs = {run.pk: run for run in found.only("workflow_id", "status")}
        paused = obj.updated_at if obj.status == ScheduleStatus.PAUSED else None
        page["strip"] = pictures.slot_strip(
            slots, runs, lambda s: slot_run_id(obj.schedule_name, s), paused_since=paused
        )
        moment, fires = now, []
        for _ in range(NEXT_FIRES):
            moment = cron.next_after(moment)
            fires.append(
                (display.local(moment, obj.cron_timezone), display.formatted(moment, UTC))
            )
        page["next_fires"] = fires
        page["zone"] = obj.cron_timezone or "UTC"
        page["in_utc"] = page["zone"] == "UTC"
        return page

    # -- permissions of the custom actions -----------------------------------------------

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_durable.change_workflowschedule"))

    def has_trigger_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_durable.trigger_workflowschedule"))

    def has_backfill_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_durable.backfill_workflowschedule"))

    # -- the buttons of a schedule's page ------------------------------------------------

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        name = "django_durable_workflowschedule"
        return [
            path("<path:object_id>/pause/", wrap(self._button("pause")), name=f"{name}_pause"),
            path("<path:object_id>/resume/", wrap(self._button("resume")), name=f"{name}_resume"),
            path(
                "<path:object_id>/trigger/", wrap(self._button("trigger")), name=f"{name}_trigger"
            ),
            path("<path:object_id>/backfill/", wrap(self.backfill_view), name=f"{name}_backfill"),
            *super().get_urls(),
        ]

    def _button(self, action: str) -> Any:
        permission = {"pause": "pause", "resume": "pause", "trigger": "trigger"}[action]

        @require_POST
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            obj = self.get_object(request, object_id)
            if obj is None:
                return object_missing(self, request, object_id)
            if not getattr(self, f"has_{permission}_permission")(request):
                return HttpResponse("Forbidden", status=403)
            getattr(self, action)(request, WorkflowSchedule.objects.filter(pk=obj.pk))
            return HttpResponseRedirect(
                reverse("admin:django_durable_workflowschedule_change", args=[obj.pk])
            )

        return view

    def backfill_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, object_id)
        if obj is None:
            return object_missing(self, request, object_id)
        if not self.has_backfill_permission(request):
            return HttpResponse("Forbidden", status=403)
        response = backfill_page(self, request, [obj], single=obj)
        if response is None:
            return HttpResponseRedirect(
                reverse("admin:django_durable_workflowschedule_change", args=[obj.pk])
            )
        return response

    # -- actions -------------------------------------------------------------------------

    @admin.action(description="Pause selected schedules", permissions=["pause"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        changed = 0
        for row in queryset:
            if schedules.pause_schedule(row.schedule_name):
                changed += 1
                self.log_change(request, row, "Paused.")
        self.message_user(request, f"Paused {changed} schedule(s).", messages.SUCCESS)

    @admin.action(description="Resume selected schedules", permissions=["pause"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        changed = 0
        for row in queryset:
            try:
                resumed = schedules.resume_schedule(row.schedule_name)
            except DurableError as exc:  # a stored cron that no longer parses
                self.message_user(
                    request, f"Not resumed: {row.schedule_name}: {exc}", messages.ERROR
                )
                continue
            if resumed:
                changed += 1
                self.log_change(request, row, "Resumed; fires from its next slot.")
        self.message_user(
            request,
            f"Resumed {changed} schedule(s); each fires from its next slot.",
            messages.SUCCESS,
        )

    @admin.action(description="Trigger a run of selected schedules now", permissions=["trigger"])
    def trigger(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        run_ids, failures = [], []
        for row in queryset:
            try:
                run_id = schedules.trigger_schedule(row.schedule_name).workflow_id
            except DurableError as exc:
                failures.append(f"{row.schedule_name}: {exc}")
                continue
            run_ids.append(run_id)
            self.log_change(request, row, f"Triggered run {run_id}.")
        if run_ids:
            self.message_user(
                request,
                format_html("Triggered {} run(s): {}.", len(run_ids), display.run_links(run_ids)),
                messages.SUCCESS,
            )
        for failure in failures:
            self.message_user(request, f"Not triggered: {failure}", messages.ERROR)

    @admin.action(description="Backfill selected schedules…", permissions=["backfill"])
    def backfill(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return backfill_page(self, request, list(queryset))


def _two_lines(text: str) -> str:
    """``2026-03-09 02:30:00 EDT`` as the date over the time, so the column stays narrow."""
    date, _, rest = text.partition(" ")
    if not rest:
        return text
    return format_html('{}<span class="durable-sub">{}</span>', date, rest)
