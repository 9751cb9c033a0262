"""The changelists' machinery: filters that never scan a table, a capped count, indexed
sorts only, and parameters checked before they reach the database.

With millions of runs a ``list_filter`` on a column runs ``SELECT DISTINCT`` over the table
on every page. These filters take their choices from the code (registered workflows,
declared queues), from an index, or from the request.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR, ChangeList
from django.core.paginator import Paginator
from django.db.models import Max, Min, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from django_durable import conf, registry
from django_durable.admin.display import INTERNAL_LABEL
from django_durable.models import WorkflowQueue, WorkflowSchedule

MAX_PARAMETER_LENGTH = 1000
"""Longer filter or search values are refused (no stored name is that long)."""


class _ExactFilter(admin.SimpleListFilter):
    """Filters ``parameter_name`` (a model field) on the exact value chosen."""

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{str(self.parameter_name): value})


class WorkflowNameFilter(_ExactFilter):
    """Runs by workflow: the workflows registered in this process."""

    title = "workflow"
    parameter_name = "name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in registry.workflow_names()]


class ScheduleWorkflowFilter(_ExactFilter):
    """Schedules by workflow: the workflows that have schedules (an index-only scan of
    ``durable_schedule_workflow``), not every registered one."""

    title = "workflow"
    parameter_name = "workflow_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = (
            WorkflowSchedule.objects.using(conf.database_alias())
            .order_by("workflow_name")
            .values_list("workflow_name", flat=True)
            .distinct()
        )
        return [(name, name) for name in names]


class QueueNameFilter(_ExactFilter):
    """By queue: the queues declared in this process, the internal one named "internal"."""

    title = "queue"
    parameter_name = "queue_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = {queue.name for queue in registry.all_queues()}
        names |= set(
            WorkflowQueue.objects.using(conf.database_alias()).values_list("pk", flat=True)
        )
        return [
            (n, INTERNAL_LABEL if n == registry.INTERNAL_QUEUE_NAME else n) for n in sorted(names)
        ]


class ApplicationVersionFilter(_ExactFilter):
    """Runs by application version: this process's, and the one in the URL (a run's page
    links to the runs of its version). No query: a list of every version would read every
    run."""

    title = "application version"
    parameter_name = "application_version"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        versions = {str(self.value())} if self.value() else set()
        if conf.application_version():
            versions.add(str(conf.application_version()))
        return [(version, version) for version in sorted(versions)]


class ScheduleQueueFilter(QueueNameFilter):
    """Schedules have no queue name for the internal queue (``queue_name`` empty)."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(n, label) for n, label in super().lookups(request, model_admin)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == registry.INTERNAL_QUEUE_NAME:
            return queryset.filter(queue_name__isnull=True) | queryset.filter(queue_name="")
        return super().queryset(request, queryset)


class ScheduleNameFilter(_ExactFilter):
    """Runs of one schedule: chosen from a schedule's page ("runs of this schedule");
    the sidebar lists only the schedule in use, never all of them."""

    title = "schedule"
    parameter_name = "schedule_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, value)] if value else []

    def has_output(self) -> bool:
        return self.value() is not None


class CappedCountPaginator(Paginator):  # type: ignore[type-arg]
    """Counts at most ``CAP + 1`` rows: a full ``COUNT(*)`` of millions of runs is slow,
    and nobody pages past the first hundred pages (filter or search instead). The count
    drops the list's order: any ``CAP + 1`` rows will do, so no sort is needed."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list.order_by()  # type: ignore[attr-defined]
        return int(rows[: self.CAP + 1].count())


def object_missing(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """What the admin does for an id that names no row: a warning, back to the index."""
    shown = object_id.replace("\x00", "\\x00")[:100]
    model_admin.message_user(
        request,
        f"{model_admin.opts.verbose_name} with ID {shown!r} does not exist. "
        "Perhaps it was deleted?",
        messages.WARNING,
    )
    return HttpResponseRedirect(reverse("admin:index", current_app=model_admin.admin_site.name))


def date_range(year: str, month: str | None, day: str | None) -> tuple[datetime, datetime]:
    """The instants a date-hierarchy selection covers, or ``IncorrectLookupParameters``
    for a date the database cannot hold (year 0, 99999999999999999999, 9999-12-31...)."""
    try:
        start = datetime(int(year), int(month or 1), int(day or 1))
        if day:
            end = start + timedelta(days=1)
        elif month:
            end = (start + timedelta(days=32)).replace(day=1)
        else:
            end = start.replace(year=start.year + 1)
        if settings.USE_TZ:
            start, end = timezone.make_aware(start), timezone.make_aware(end)
            start.astimezone(UTC), end.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise IncorrectLookupParameters(f"Not a date this list can show: {exc}") from exc
    return start, end


class DurableChangeList(ChangeList):
    """The changelist of both pages.

    - Parameters are checked before any query: a NUL character, an overlong value or a
      date the database cannot hold gives the admin's "invalid lookup" page, never a
      database error. (Which lookups are allowed at all is ``lookup_allowed``.)
    - Sorts only by the ``sortable_by`` columns, even when a hand-written ``?o=`` names
      another: on a table of millions of runs that would sort the whole table.
    - An unfiltered list does not offer "Show all" next to its count.
    """

    def get_filters(self, request: HttpRequest) -> Any:
        for key, values in request.GET.lists():
            for value in [key, *values]:
                if "\x00" in value or len(value) > MAX_PARAMETER_LENGTH:
                    raise IncorrectLookupParameters(f"Unusable value for {key[:50]!r}.")
        if self.date_hierarchy:
            field = self.date_hierarchy
            year = self.params.get(f"{field}__year")
            if year is not None:
                date_range(
                    year, self.params.get(f"{field}__month"), self.params.get(f"{field}__day")
                )
            elif f"{field}__month" in self.params or f"{field}__day" in self.params:
                raise IncorrectLookupParameters("A month or a day needs a year.")
        return super().get_filters(request)

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

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        if not self.has_active_filters and not self.params.get(SEARCH_VAR):
            self.full_result_count = self.result_count


def cheap_date_hierarchy(cl: ChangeList) -> dict[str, Any] | None:
    """Drill-down choices of a date hierarchy without ``SELECT DISTINCT`` over the period
    (which reads every row of it): every year between the table's first and last row
    (two index look-ups), every month of a year, every day of a month."""
    field = cl.date_hierarchy
    if not field:
        return None
    year, month, day = (cl.params.get(f"{field}__{part}") for part in ("year", "month", "day"))

    def link(filters: dict[str, Any]) -> str:
        return str(cl.get_query_string(filters, [f"{field}__"]))

    if year and month and day:
        chosen = datetime(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link({f"{field}__year": year, f"{field}__month": month}),
                "title": chosen.strftime("%B %Y"),
            },
            "choices": [{"title": chosen.strftime("%B %-d")}],
        }
    if year and month:
        days = monthrange(int(year), int(month))[1]
        return {
            "show": True,
            "back": {"link": link({f"{field}__year": year}), "title": str(year)},
            "choices": [
                {
                    "link": link(
                        {f"{field}__year": year, f"{field}__month": month, f"{field}__day": d}
                    ),
                    "title": datetime(int(year), int(month), d).strftime("%B %-d"),
                }
                for d in range(1, days + 1)
            ],
        }
    if year:
        return {
            "show": True,
            "back": {"link": link({}), "title": "All dates"},
            "choices": [
                {
                    "link": link({f"{field}__year": year, f"{field}__month": m}),
                    "title": datetime(int(year), m, 1).strftime("%B %Y"),
                }
                for m in range(1, 13)
            ],
        }
    bounds = cl.root_queryset.aggregate(first=Min(field), last=Max(field))
    if bounds["first"] is None:
        return {"show": True, "back": None, "choices": []}
    first, last = (timezone.localtime(bounds[k]).year for k in ("first", "last"))
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link({f"{field}__year": str(y)}), "title": str(y)}
            for y in range(first, last + 1)
        ],
    }
