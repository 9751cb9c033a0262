"""The runs' admin: the list, the run page with its timeline, and the run buttons."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from django_durable import conf
from django_durable.admin import display, messaging, pictures
from django_durable.admin.lists import (
    ApplicationVersionFilter,
    CappedCountPaginator,
    DurableChangeList,
    QueueNameFilter,
    ScheduleNameFilter,
    WorkflowNameFilter,
    object_missing,
)
from django_durable.engine import control
from django_durable.exceptions import DurableError
from django_durable.models import FINISHED, RunStatus, StepOutput, WorkflowRun

ALLOWED_LOOKUPS = {
    "status__exact",
    "name",
    "queue_name",
    "schedule_name",
    "parent_id",
    "application_version",
    "created_at__year",
    "created_at__month",
    "created_at__day",
}
LIST_COLUMNS: tuple[str, ...] = (
    *("workflow_id", "name", "status", "queue_name", "schedule_name"),
    *("created_at", "started_at", "completed_at"),
    *("run_after", "waiting_for", "wait_key", "wait_workflow_id"),
)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    change_form_template = "admin/django_durable/workflowrun/change_form.html"
    change_list_template = "admin/django_durable/workflowrun/change_list.html"
    list_display = ["run_id", "workflow", "status_badge", "queue", "created"]
    list_display_links = ["run_id"]
    list_filter = [
        "status",
        WorkflowNameFilter,
        QueueNameFilter,
        ScheduleNameFilter,
        ApplicationVersionFilter,
    ]
    # The primary key by prefix (its ``varchar_pattern_ops`` index on PostgreSQL), or a
    # schedule's exact name (an index too).
    search_fields = ["workflow_id__startswith", "schedule_name__exact"]
    search_help_text = "The start of a run id, or a schedule's exact name."
    date_hierarchy = "created_at"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    # Sorting by another column sorts the whole table; the id and the time are indexed.
    sortable_by = ["run_id", "created"]
    ordering = ["-created_at"]
    actions = ["cancel", "resume", "retry_from_failed_step"]
    fields = ("workflow_id",)
    readonly_fields = fields

    class Media:
        css = {"all": ("django_durable/admin.css",)}

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[DurableChangeList]:
        return DurableChangeList

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in ALLOWED_LOOKUPS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is not None and str(match.url_name).endswith("_changelist"):
            return queryset.only(*LIST_COLUMNS)  # the list shows no payload
        return queryset

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        if "\x00" in object_id:
            return None  # no id holds one, and PostgreSQL refuses to compare with it
        return super().get_object(request, object_id, from_field)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # runs are history: `manage.py durable prune` removes finished ones

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_durable.cancel_workflowrun"))

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_durable.resume_workflowrun"))

    def has_fork_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("django_durable.fork_workflowrun"))

    # -- columns -------------------------------------------------------------------------

    @admin.display(description="run id", ordering="workflow_id")
    def run_id(self, obj: WorkflowRun) -> str:
        return format_html(
            '<span title="{}">{}</span>', obj.workflow_id, display.short_id(obj.workflow_id, 24)
        )

    @admin.display(description="workflow")
    def workflow(self, obj: WorkflowRun) -> str:
        if not obj.schedule_name:
            return obj.name
        return format_html(
            '{}<span class="durable-sub wrap">schedule {}</span>', obj.name, obj.schedule_name
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WorkflowRun) -> str:
        """The status, and under it how long the run took (once it finished), or what a
        parked run waits for."""
        waiting = display.waiting(obj)
        if waiting is not None:
            return format_html(
                '{}<span class="durable-sub wrap">{}</span>', display.run_badge(obj), waiting
            )
        took = display.between(obj.started_at, obj.completed_at)
        if took == "-":
            return display.badge(obj.status)
        return format_html(
            '{}<span class="durable-sub">{}</span>', display.badge(obj.status), took
        )

    @admin.display(description="queue")
    def queue(self, obj: WorkflowRun) -> str:
        return display.queue_label(obj.queue_name) if obj.queue_name else "-"

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: WorkflowRun) -> str:
        date, _, rest = display.when(obj.created_at).partition(" ")
        return format_html('{}<span class="durable-sub">{}</span>', date, rest)

    @admin.display(description="duration")
    def duration(self, obj: WorkflowRun) -> str:
        return display.between(obj.started_at, obj.completed_at)

    # -- the run page --------------------------------------------------------------------

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

    def _page(self, request: HttpRequest, run: WorkflowRun) -> dict[str, Any]:
        """The run page: its summary, its timeline, its values and what can be done."""
        using = conf.database_alias()
        steps = list(StepOutput.objects.using(using).filter(run_id=run.pk).order_by("step_number"))
        child_ids = [s.child_workflow_id for s in steps if s.child_workflow_id]
        children = {c.pk: c for c in WorkflowRun.objects.using(using).filter(pk__in=child_ids)}
        child_steps: dict[str, list[StepOutput]] = {}
        if children:
            for step in StepOutput.objects.using(using).filter(run_id__in=list(children)):
                child_steps.setdefault(step.run_id, []).append(step)
            for owned in child_steps.values():
                owned.sort(key=lambda s: s.step_number)
        error = None
        if run.error:
            kind, message = display.error_kind(run.error)
            error = {"kind": kind, "message": message, "text": display.error_text(run.error)}
        finished = run.status in FINISHED
        return {
            "run": run,
            "status_badge": display.run_badge(run),
            "waiting": display.waiting(run),
            "deadline": display.when(run.deadline) if run.deadline else None,
            "published": messaging.published(run),
            "queue": display.queue_label(run.queue_name) if run.queue_name else "-",
            "created": display.when(run.created_at),
            "started": display.when(run.started_at),
            "completed": display.when(run.completed_at),
            "run_after": display.when(run.run_after) if run.run_after else None,
            "duration": display.between(run.started_at, run.completed_at),
            "error": error,
            "inputs": display.pretty(run.inputs),
            "output": display.pretty(run.output) if run.status == RunStatus.SUCCESS else None,
            "timeline": pictures.timeline(run, steps, children, child_steps, timezone.now()),
            "step_numbers": [s.step_number for s in steps],
            "schedule_url": self._schedule_url(run.schedule_name),
            "children_url": reverse("admin:django_durable_workflowrun_changelist")
            + f"?parent_id={run.pk}",
            "can_cancel": self.has_cancel_permission(request) and not finished,
            "can_resume": self.has_resume_permission(request)
            and run.status not in (RunStatus.SUCCESS, RunStatus.PENDING),
            "can_fork": self.has_fork_permission(request),
            "can_retry": self.has_fork_permission(request) and run.status != RunStatus.SUCCESS,
        }

    @staticmethod
    def _schedule_url(name: str | None) -> str | None:
        from django_durable.models import WorkflowSchedule

        if not name:
            return None
        found = WorkflowSchedule.objects.using(conf.database_alias()).filter(schedule_name=name)
        pk = found.values_list("pk", flat=True).first()
        if pk is None:
            return None
        return reverse("admin:django_durable_workflowschedule_change", args=[pk])

    # -- the buttons of a run's page -----------------------------------------------------

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        name = "django_durable_workflowrun"
        buttons = [
            ("cancel", "cancel"),
            ("resume", "resume"),
            ("retry", "retry_from_failed_step"),
            ("fork", "fork"),
        ]
        return [
            *(
                path(
                    f"<path:object_id>/{slug}/", wrap(self._button(action)), name=f"{name}_{slug}"
                )
                for slug, action in buttons
            ),
            *super().get_urls(),
        ]

    def _button(self, action: str) -> Any:
        permission = {
            "cancel": "cancel",
            "resume": "resume",
            "retry_from_failed_step": "fork",
            "fork": "fork",
        }[action]

        @require_POST
        def view(request: HttpRequest, object_id: str) -> HttpResponse:
            run = self.get_object(request, object_id)
            if run is None:
                return object_missing(self, request, object_id)
            if not getattr(self, f"has_{permission}_permission")(request):
                return HttpResponse("Forbidden", status=403)
            if action == "fork":
                self._fork(request, run)
            else:
                getattr(self, action)(request, WorkflowRun.objects.filter(pk=run.pk))
            return HttpResponseRedirect(display.run_url(run.pk))

        return view

    def _fork(self, request: HttpRequest, run: WorkflowRun) -> None:
        raw = request.POST.get("start_step", "")
        if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
            self.message_user(request, f"Not forked: no step {raw[:20]!r}.", messages.ERROR)
            return
        step = int(raw)
        try:
            new_id = control.fork_workflow(run.pk, step).workflow_id
        except (DurableError, ValueError) as exc:
            self.message_user(request, f"Not forked: {exc}", messages.ERROR)
            return
        self.log_change(request, run, f"Forked from step {step} as run {new_id}.")
        self.message_user(
            request,
            format_html("Forked from step {} as {}.", step, display.run_link(new_id)),
            messages.SUCCESS,
        )

    # -- actions -------------------------------------------------------------------------

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Any], verb: str, operation: Any
    ) -> list[tuple[WorkflowRun, Any]]:
        done, failures = [], []
        for run in queryset.only("workflow_id", "name"):
            try:
                result = operation(run.pk)
            except DurableError as exc:
                failures.append(f"{run.pk}: {exc}")
                continue
            if result is not False:
                done.append((run, result))
        for failure in failures:
            self.message_user(request, f"Not {verb}: {failure}", messages.ERROR)
        return done

    @admin.action(description="Cancel selected runs", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._each(request, queryset, "cancelled", control.cancel_workflow)
        for run, _ in done:
            self.log_change(request, run, "Cancelled.")
        self.message_user(request, f"Cancelled {len(done)} run(s).", messages.SUCCESS)

    @admin.action(description="Resume selected runs", permissions=["resume"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        done = self._each(request, queryset, "resumed", control.resume_workflow)
        for run, _ in done:
            self.log_change(request, run, "Resumed on the internal queue from its last step.")
        self.message_user(
            request,
            f"Resumed {len(done)} run(s); a worker runs them from their last step.",
            messages.SUCCESS,
        )

    @admin.action(description="Retry selected runs from their failed step", permissions=["fork"])
    def retry_from_failed_step(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        def fork(workflow_id: str) -> tuple[int, str]:
            step = control.failed_step(workflow_id)
            return step, control.fork_workflow(workflow_id, step).workflow_id

        done = self._each(request, queryset, "retried", fork)
        for run, (step, new_id) in done:
            self.log_change(request, run, f"Retried from step {step} as run {new_id}.")
        if done:
            new_ids = [new_id for _, (_, new_id) in done]
            self.message_user(
                request,
                format_html(
                    "Retried as {} new run(s): {}.", len(new_ids), display.run_links(new_ids)
                ),
                messages.SUCCESS,
            )
