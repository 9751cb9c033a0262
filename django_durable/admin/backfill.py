"""The backfill page: a range, a preview per schedule, then the runs enqueued.

Reached from the schedules list (the "Backfill selected schedules…" action, an
intermediate page as ``delete_selected`` has) or from one schedule's page (its Backfill
button). A schedule whose range holds too many slots is refused on its own: the others
are still enqueued.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from django_durable import conf, definitions, schedules
from django_durable.admin.display import local
from django_durable.exceptions import DurableError
from django_durable.forms import BackfillForm
from django_durable.models import WorkflowSchedule

PREVIEW_SLOTS = 3
"""Slots shown at each end of a backfill preview."""


def backfill_page(
    model_admin: Any,
    request: HttpRequest,
    rows: list[WorkflowSchedule],
    *,
    single: WorkflowSchedule | None = None,
) -> HttpResponse | None:
    """The page for ``rows``; ``None`` once the runs were enqueued (the caller redirects).

    ``single`` is the schedule whose own page this was opened from (no action fields)."""
    zones = {row.cron_timezone or "UTC" for row in rows}
    zone_name = zones.pop() if len(zones) == 1 else None
    zone = definitions.zone_or_utc(zone_name)
    form = BackfillForm(
        request.POST if "start" in request.POST else None, zone=zone, zone_name=zone_name
    )
    previews: list[dict[str, Any]] = []
    limit = int(conf.get("MAX_BACKFILL"))
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        for row in rows:
            previews.append(_preview(row, start, end, limit))
        accepted = [p["schedule"] for p in previews if "error" not in p]
        if "apply" in request.POST and accepted:
            _apply(model_admin, request, accepted, previews, start, end)
            return None
    opts = model_admin.model._meta
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Backfill {single.schedule_name}" if single else "Backfill schedules",
        "opts": opts,
        "schedules": rows,
        "single": single,
        "form": form,
        "previews": previews,
        "enqueueable": sum(1 for p in previews if "error" not in p),
        "refused": sum(1 for p in previews if "error" in p),
        "limit": limit,
        "zone": zone_name or "UTC",
        "mixed_zones": zone_name is None,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/django_durable/backfill.html", context)


def _preview(row: WorkflowSchedule, start: datetime, end: datetime, limit: int) -> dict[str, Any]:
    try:
        slots = schedules.row_slots(row, start, end, limit=limit)
    except DurableError as exc:
        return {"schedule": row, "error": str(exc)}
    except (ValueError, OverflowError) as exc:  # a range the cron code cannot reach
        return {"schedule": row, "error": f"The range cannot be backfilled: {exc}."}
    shown: list[datetime | None] = list(slots)
    if len(slots) > 2 * PREVIEW_SLOTS:
        shown = [*slots[:PREVIEW_SLOTS], None, *slots[-PREVIEW_SLOTS:]]
    return {
        "schedule": row,
        "count": len(slots),
        "slots": [local(s, row.cron_timezone) if s else "…" for s in shown],
    }


def _apply(
    model_admin: Any,
    request: HttpRequest,
    rows: list[WorkflowSchedule],
    previews: list[dict[str, Any]],
    start: datetime,
    end: datetime,
) -> None:
    created = existing = 0
    done = 0
    for row in rows:
        try:
            result = schedules.backfill(row.schedule_name, start, end)
        except (DurableError, ValueError, OverflowError) as exc:
            model_admin.message_user(
                request, f"Not backfilled: {row.schedule_name}: {exc}", messages.ERROR
            )
            continue
        done += 1
        created += len(result.created)
        existing += len(result.existing)
        model_admin.log_change(
            request,
            row,
            f"Backfilled {start.isoformat()} to {end.isoformat()}: enqueued "
            f"{len(result.created)} run(s); {len(result.existing)} slot(s) already had one.",
        )
    for preview in previews:
        if "error" in preview:
            model_admin.message_user(
                request,
                f"Not backfilled: {preview['schedule'].schedule_name}: {preview['error']}",
                messages.ERROR,
            )
    if done:
        model_admin.message_user(
            request,
            f"Backfilled {done} schedule(s): enqueued {created} run(s); "
            f"{existing} slot(s) already had a run and were not run again.",
            messages.SUCCESS,
        )
