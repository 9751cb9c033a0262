"""The admin's pictures, computed as plain data for the templates to draw (CSS and SVG).

- ``timeline``: a run's steps as bars on a time axis, children nested, sleeps as gaps;
- ``recent_slots`` and ``slot_strip``: a schedule's last slots coloured by outcome;
- ``stacked_columns``: runs per time bucket by status (the dashboard's charts).

No queries here: the callers pass the rows they read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django_durable import serialization
from django_durable.admin import display
from django_durable.cron import Cron
from django_durable.exceptions import DurableError
from django_durable.models import RunStatus, StepOutput, WorkflowRun

SLEEP_STEP_NAME = "durable.sleep"
"""The step name a durable ``sleep`` records (its output is the wake-up time)."""

OUTCOMES: dict[str, str] = {
    RunStatus.SUCCESS: "succeeded",
    RunStatus.ERROR: "failed",
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED: "failed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.PENDING: "running",
    RunStatus.ENQUEUED: "waiting",
}
"""The outcome (colour) of a run's status in the timeline and the slot strip."""


# -- the run timeline ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Bar:
    """One row of a run's timeline."""

    number: str
    """The step number (``3``), or ``3.1`` for step 1 of the child run started at step 3."""
    name: str
    """The step's name."""
    kind: str
    """``step``, ``child`` (a child workflow) or ``sleep`` (a durable sleep: a gap)."""
    outcome: str
    """``succeeded``, ``failed``, ``cancelled``, ``running``, ``waiting`` or ``sleep``."""
    left: float
    """Where the bar starts, in percent of the axis."""
    width: float
    """Its length, in percent of the axis (at least a sliver, so it can be seen)."""
    started: datetime | None
    """When it started (``None`` when not recorded)."""
    duration: float | None
    """Its duration in seconds (``None`` when not known)."""
    value: str
    """The step's output as indented JSON, or its error with the traceback."""
    summary: str
    """One line: the output, the error's type and message, or the wake-up time."""
    attempts: int | None
    """Attempts made by a step that exhausted its retries."""
    child_id: str | None
    """The child run's id, for a child workflow."""
    depth: int
    """0 for the run's own steps, 1 for a child's steps."""


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """A run's steps on a common time axis."""

    bars: list[Bar]
    """The rows, in step order, each child's steps under it."""
    ticks: list[tuple[float, str]]
    """Axis labels: (percent, text)."""
    origin: datetime
    """The instant at the left edge."""
    total: float
    """Seconds from the left edge to the right edge."""


def _bounds(
    step: StepOutput, child: WorkflowRun | None, previous_end: datetime, now: datetime
) -> tuple[str, datetime, datetime, str]:
    """``(kind, start, end, outcome)`` of one step."""
    if child is not None:
        start = child.started_at or child.created_at
        end = child.completed_at or (now if child.status in OUTCOMES else start)
        return "child", start, max(end, start), OUTCOMES.get(child.status, "running")
    if step.step_name == SLEEP_STEP_NAME and not step.error:
        try:
            wake = serialization.loads(step.output)
        except DurableError:
            wake = None
        if isinstance(wake, datetime):
            return "sleep", step.completed_at, max(wake, step.completed_at), "sleep"
    start = step.started_at or previous_end
    start = min(start, step.completed_at)
    return "step", start, step.completed_at, "failed" if step.error else "succeeded"


def _summary(step: StepOutput, kind: str, child: WorkflowRun | None) -> tuple[str, str]:
    """``(value, summary)`` of one step."""
    if child is not None:
        if child.error:
            kind_name, message = display.error_kind(child.error)
            return display.error_text(child.error), f"{kind_name}: {message}"
        if child.status == RunStatus.SUCCESS:
            value = display.pretty(child.output)
            return value, _one_line(value)
        return "", display.STATUS_LABELS.get(child.status, child.status)
    if step.error:
        kind_name, message = display.error_kind(step.error)
        return display.error_text(step.error), f"{kind_name}: {message}"
    value = display.pretty(step.output)
    if kind == "sleep":
        return value, f"sleeps until {_one_line(value)}"
    return value, _one_line(value)


def _tick(value: float, total: float) -> str:
    """An axis label: milliseconds on a short axis, so its ticks stay distinct."""
    return f"{value * 1000:.1f} ms" if total < 1 else display.seconds(value)


def _one_line(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def timeline(
    run: WorkflowRun,
    steps: Sequence[StepOutput],
    children: Mapping[str, WorkflowRun],
    child_steps: Mapping[str, Sequence[StepOutput]],
    now: datetime,
) -> Timeline:
    """The timeline of ``run``: its ``steps``, with the ``children`` runs they started
    (by id) and their steps (by child id) nested one level."""
    origin = run.started_at or run.created_at
    rows: list[tuple[str, StepOutput, WorkflowRun | None, int, datetime, datetime, str]] = []

    def add(prefix: str, owned: Iterable[StepOutput], depth: int, start: datetime) -> None:
        previous = start
        for step in owned:
            child = children.get(step.child_workflow_id or "") if depth == 0 else None
            _kind, begin, end, outcome = _bounds(step, child, previous, now)
            number = f"{prefix}{step.step_number}"
            rows.append((number, step, child, depth, begin, end, outcome))
            previous = end
            if child is not None:
                add(f"{number}.", child_steps.get(child.pk, ()), 1, begin)

    add("", steps, 0, origin)
    ends = [now] if run.status == RunStatus.PENDING else []
    ends += [run.completed_at] if run.completed_at else []
    ends += [row[5] for row in rows]
    starts = [origin, *(row[4] for row in rows)]
    origin = min(starts)
    end = max([origin, *ends])
    total = max((end - origin).total_seconds(), 0.001)
    bars = []
    for number, step, child, depth, begin, finish, outcome in rows:
        kind = "child" if child is not None else ("sleep" if outcome == "sleep" else "step")
        left = 100 * (begin - origin).total_seconds() / total
        width = max(100 * (finish - begin).total_seconds() / total, 0.4)
        value, summary = _summary(step, kind, child)
        known = child is not None or step.started_at is not None or kind == "sleep"
        bars.append(
            Bar(
                number=number,
                name=child.name if child is not None else step.step_name,
                kind=kind,
                outcome=outcome,
                left=min(left, 99.6),
                width=min(width, 100 - min(left, 99.6)),
                started=begin if known else None,
                duration=(finish - begin).total_seconds() if known else None,
                value=value,
                summary=summary,
                attempts=display.attempts(step.error),
                child_id=child.pk if child is not None else step.child_workflow_id,
                depth=depth,
            )
        )
    ticks = [(100 * i / 4, _tick(total * i / 4, total)) for i in range(5)]
    return Timeline(bars=bars, ticks=ticks, origin=origin, total=total)


# -- a schedule's recent slots ------------------------------------------------------------


def recent_slots(cron: Cron, since: datetime, now: datetime, count: int) -> list[datetime]:
    """The newest ``count`` slots after ``since`` up to ``now``, oldest first (pass ``now``
    less the scheduler's grace, so a slot being fired is not shown as missed).

    Looks back over a doubling window, so a frequent cron costs about ``2 * count`` steps
    and a rare one a few windows back to ``since``.
    """
    span = timedelta(minutes=1)
    while True:
        lower = max(since, now - span)
        slots: list[datetime] = []
        for slot in cron.slots_between(lower, now + timedelta(microseconds=1)):
            slots.append(slot)
            if len(slots) > 4 * count:
                slots = slots[-count:]
        if len(slots) >= count or lower == since:
            return slots[-count:]
        span *= 2


@dataclass(frozen=True, kw_only=True)
class Slot:
    """One cell of a schedule's strip."""

    at: datetime
    """The slot (UTC)."""
    outcome: str
    """``succeeded``, ``failed``, ``cancelled``, ``running``, ``waiting`` (enqueued),
    ``missed`` or ``skipped``."""
    run_id: str | None
    """Its run, if it has one."""


def slot_strip(
    slots: Sequence[datetime],
    runs: Mapping[str, WorkflowRun],
    run_id_of: Any,
    *,
    paused_since: datetime | None,
) -> list[Slot]:
    """The outcome of each slot: its run's, else ``skipped`` (after the schedule was
    paused) or ``missed`` (no run: no scheduler fired it)."""
    cells = []
    for slot in slots:
        run_id = run_id_of(slot)
        run = runs.get(run_id)
        if run is not None:
            outcome = OUTCOMES.get(run.status, "running")
        elif paused_since is not None and slot >= paused_since:
            outcome, run_id = "skipped", None
        else:
            outcome, run_id = "missed", None
        cells.append(Slot(at=slot, outcome=outcome, run_id=run_id))
    return cells


# -- the dashboard's charts ---------------------------------------------------------------

CHART_STATUSES = [
    RunStatus.SUCCESS,
    RunStatus.ERROR,
    RunStatus.MAX_RECOVERY_ATTEMPTS_EXCEEDED,
    RunStatus.CANCELLED,
    RunStatus.PENDING,
    RunStatus.ENQUEUED,
]
"""The order in which statuses are stacked, bottom first."""


@dataclass(frozen=True, kw_only=True)
class Column:
    """One bucket of a stacked column chart."""

    at: datetime
    """The start of the bucket."""
    total: int
    """Runs in the bucket."""
    segments: list[tuple[str, int, float, float]]
    """``(status, count, y, height)`` bottom up, in chart units (the chart is 100 high)."""


def stacked_columns(
    buckets: Sequence[datetime], counts: Mapping[tuple[datetime, str], int]
) -> tuple[list[Column], int]:
    """Columns of runs per bucket by status, scaled to the fullest bucket; and that peak."""
    totals = [sum(counts.get((at, status), 0) for status in CHART_STATUSES) for at in buckets]
    peak = max([*totals, 1])
    columns = []
    for at, total in zip(buckets, totals, strict=True):
        y, segments = 100.0, []
        for status in CHART_STATUSES:
            count = counts.get((at, status), 0)
            if count:
                height = 100 * count / peak
                y -= height
                segments.append((str(status), count, y, height))
        columns.append(Column(at=at, total=total, segments=segments))
    return columns, peak
