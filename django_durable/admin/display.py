"""How the admin shows values: times, statuses, stored payloads and errors, run links.

Pure formatting, shared by the list columns, the detail pages and the dashboard.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_durable import definitions, error_records, registry, serialization
from django_durable.exceptions import DurableError
from django_durable.models import RunStatus, WorkflowRun, waits

STATUS_CLASSES: dict[str, str] = {
    RunStatus.ENQUEUED: "enqueued",
    RunStatus.PENDING: "pending",
    RunStatus.SUCCESS: "success",
    RunStatus.ERROR: "error",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED: "gave-up",
    "ACTIVE": "active",
    "PAUSED": "paused",
}
"""CSS class of each run and schedule status (``durable-badge <class>``)."""

STATUS_LABELS: dict[str, str] = {
    RunStatus.ENQUEUED: "enqueued",
    RunStatus.PENDING: "running",
    RunStatus.SUCCESS: "succeeded",
    RunStatus.ERROR: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED: "gave up",
    "ACTIVE": "active",
    "PAUSED": "paused",
}
"""The words a badge shows; the stored value is its tooltip."""

INTERNAL_LABEL = "internal"
"""How the internal queue is named everywhere in the admin."""


def formatted(value: datetime | None, zone: tzinfo) -> str:
    """An instant in ``zone``, to the second, with the zone's abbreviation; ``-`` if none."""
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def local(value: datetime | None, zone_name: str | None) -> str:
    """An instant in a schedule's timezone (UTC when it has none)."""
    return formatted(value, definitions.zone_or_utc(zone_name))


def when(value: datetime | None) -> str:
    """An instant in the current timezone."""
    return formatted(value, timezone.get_current_timezone())


def seconds(value: float | None) -> str:
    """A duration for people: ``0.042 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.3f} s"
    if value < 120:
        return f"{value:.0f} s"
    minutes, rest = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02} min"
    return f"{hours // 24} d {hours % 24:02} h"


def between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return seconds((end - start).total_seconds())


def badge(status: str) -> SafeString:
    """A coloured status badge (the stored value in its tooltip)."""
    return format_html(
        '<span class="durable-badge {}" title="{}">{}</span>',
        STATUS_CLASSES.get(status, "unknown"),
        status,
        STATUS_LABELS.get(status, status.lower()),
    )


def waiting(run: WorkflowRun) -> str | None:
    """What a parked (or debounced) run waits for and until when; ``None`` otherwise."""
    if run.status != RunStatus.ENQUEUED or not run.waiting_for:
        return None
    what = waits.describe(run.waiting_for, run.wait_key, run.wait_workflow_id)
    return f"waiting for {what}, until {when(run.run_after)}"


def run_badge(run: WorkflowRun) -> SafeString:
    """A run's status badge; a parked run's says it is waiting."""
    if run.status == RunStatus.ENQUEUED and run.waiting_for:
        return format_html(
            '<span class="durable-badge enqueued waiting" title="{}">waiting</span>', run.status
        )
    return badge(run.status)


def queue_label(name: str | None) -> str:
    if not name or name == registry.INTERNAL_QUEUE_NAME:
        return INTERNAL_LABEL
    return name


def short_id(workflow_id: str, limit: int = 30) -> str:
    """A long run id shortened in its middle (``sched-nightly…T02:00:00+00:00``), so the
    start and the slot time stay readable on one line."""
    if len(workflow_id) <= limit:
        return workflow_id
    tail = min(14, max(limit - 10, 1))
    return f"{workflow_id[: limit - tail - 1]}…{workflow_id[-tail:]}"


def run_url(workflow_id: str) -> str:
    return reverse("admin:django_durable_workflowrun_change", args=[workflow_id])


def run_link(workflow_id: str | None, text: str | None = None) -> SafeString | str:
    if not workflow_id:
        return "-"
    return format_html('<a href="{}">{}</a>', run_url(workflow_id), text or workflow_id)


def run_links(run_ids: list[str]) -> SafeString:
    """Links to the change pages of ``run_ids`` (ids may contain commas, so no ``__in``)."""
    return format_html_join(", ", '<a href="{}">{}</a>', ((run_url(i), i) for i in run_ids))


# -- stored values ----------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A decoded payload as plain JSON values, for people: datetimes as ISO 8601, decimals
    and UUIDs as text, bytes as base64, tuples and sets as lists, other keys as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g} s"
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [plain(item) for item in items]
    return repr(value)


def pretty(text: str | None) -> str:
    """A stored payload as indented JSON; ``-`` if none; the raw text if unreadable."""
    if text is None:
        return "-"
    try:
        value = serialization.loads(text)
    except (DurableError, ValueError, RecursionError):
        return text
    return json.dumps(plain(value), indent=2, ensure_ascii=False)


def error_kind(text: str | None) -> tuple[str, str]:
    """``(type name, message)`` of a stored error."""
    kind, message = error_records.error_summary(text) or ("?", "")
    return kind.rpartition(".")[2], message


def error_text(text: str) -> str:
    """A stored error: its type, message and recorded traceback."""
    kind, message = error_records.error_summary(text) or ("?", "")
    traceback = error_records.error_traceback(text)
    return f"{kind}: {message}\n\n{traceback}".rstrip()


def attempts(text: str | None) -> int | None:
    """How many attempts a step that exhausted its retries made (``None`` otherwise)."""
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    errors = record.get("errors") if isinstance(record, dict) else None
    if isinstance(errors, list) and str(record.get("type", "")).endswith("MaxStepRetriesExceeded"):
        return len(errors)
    return None
