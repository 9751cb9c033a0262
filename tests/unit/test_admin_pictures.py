"""The admin's pictures and value display, as plain data (no database)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django_durable import serialization
from django_durable.admin import display, pictures
from django_durable.cron import Cron
from django_durable.models import RunStatus, StepOutput, WorkflowRun

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(status: str = RunStatus.SUCCESS, **kw: object) -> WorkflowRun:
    fields = {
        "workflow_id": "r",
        "name": "wf",
        "status": status,
        "inputs": "{}",
        "created_at": T0,
        "started_at": T0,
        "completed_at": T0 + timedelta(seconds=10),
    }
    fields.update(kw)
    return WorkflowRun(**fields)


def step(number: int, start: float, end: float, **kw: object) -> StepOutput:
    fields = {
        "run_id": "r",
        "step_number": number,
        "step_name": f"s{number}",
        "output": serialization.dumps(number),
        "started_at": T0 + timedelta(seconds=start),
        "completed_at": T0 + timedelta(seconds=end),
    }
    fields.update(kw)
    return StepOutput(**fields)


def test_steps_are_bars_on_one_axis_from_the_runs_start():
    timeline = pictures.timeline(run(), [step(1, 0, 2), step(2, 5, 10)], {}, {}, T0)
    first, second = timeline.bars
    assert (first.left, first.width) == (0.0, 20.0)
    assert (second.left, second.width) == (50.0, 50.0)
    assert (first.outcome, first.summary, first.duration) == ("succeeded", "1", 2.0)
    assert timeline.total == 10.0
    assert [label for _, label in timeline.ticks] == [
        "0.000 s",
        "2.500 s",
        "5.000 s",
        "7.500 s",
        "10 s",
    ]


def test_a_child_is_timed_by_its_run_and_its_steps_nested():
    child = run(
        workflow_id="r-2",
        name="child",
        started_at=T0 + timedelta(seconds=2),
        completed_at=T0 + timedelta(seconds=6),
        output=serialization.dumps(7),
    )
    parent_steps = [step(1, 0, 1), step(2, 0, 0, started_at=None, child_workflow_id="r-2")]
    child_steps = {"r-2": [step(1, 3, 4, run_id="r-2")]}
    bars = pictures.timeline(run(), parent_steps, {"r-2": child}, child_steps, T0).bars
    assert [(b.number, b.kind, b.depth) for b in bars] == [
        ("1", "step", 0),
        ("2", "child", 0),
        ("2.1", "step", 1),
    ]
    assert (bars[1].left, bars[1].width, bars[1].duration) == (20.0, 40.0, 4.0)
    assert bars[1].child_id == "r-2" and bars[1].summary == "7"


def test_a_sleep_is_a_gap_until_its_wake_up_time_and_retries_are_counted():
    wake = T0 + timedelta(seconds=8)
    sleep = step(1, 0, 0, step_name=pictures.SLEEP_STEP_NAME, output=serialization.dumps(wake))
    sleep.started_at = None
    sleep.completed_at = T0 + timedelta(seconds=1)
    errors = {
        "type": "django_durable.exceptions.MaxStepRetriesExceeded",
        "message": "m",
        "errors": [{}, {}, {}],
    }
    failed = step(2, 8, 9, output=None, error=json.dumps(errors))
    bars = pictures.timeline(run(status=RunStatus.ERROR), [sleep, failed], {}, {}, T0).bars
    assert (bars[0].kind, bars[0].outcome, bars[0].left, bars[0].width) == (
        "sleep",
        "sleep",
        10.0,
        70.0,
    )
    assert bars[0].summary.startswith("sleeps until")
    assert (bars[1].outcome, bars[1].attempts) == ("failed", 3)
    assert bars[1].summary == "MaxStepRetriesExceeded: m"


def test_a_short_runs_axis_is_labelled_in_milliseconds():
    quick = run(completed_at=T0 + timedelta(milliseconds=2))
    timeline = pictures.timeline(quick, [step(1, 0, 0.001)], {}, {}, T0)
    assert [label for _, label in timeline.ticks] == [
        "0.0 ms",
        "0.5 ms",
        "1.0 ms",
        "1.5 ms",
        "2.0 ms",
    ]


def test_a_running_run_reaches_now():
    now = T0 + timedelta(seconds=20)
    timeline = pictures.timeline(
        run(status=RunStatus.PENDING, completed_at=None), [step(1, 0, 5)], {}, {}, now
    )
    assert timeline.total == 20.0
    assert timeline.bars[0].width == 25.0


def test_recent_slots_are_the_newest_since_a_time():
    cron = Cron.parse("*/5 * * * *")
    slots = pictures.recent_slots(cron, T0 - timedelta(days=30), T0, 50)
    assert len(slots) == 50 and slots[-1] == T0
    assert slots[0] == T0 - timedelta(minutes=5 * 49)
    few = pictures.recent_slots(cron, T0 - timedelta(minutes=12), T0, 50)
    assert few == [T0 - timedelta(minutes=10), T0 - timedelta(minutes=5), T0]
    yearly = pictures.recent_slots(Cron.parse("0 0 1 1 *"), T0 - timedelta(days=700), T0, 50)
    assert yearly == [datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)]


def test_the_strip_colours_each_slot():
    slots = [T0 + timedelta(minutes=n) for n in range(4)]
    runs = {"id-0": run(status=RunStatus.SUCCESS), "id-1": run(status=RunStatus.ENQUEUED)}
    cells = pictures.slot_strip(
        slots, runs, lambda s: f"id-{slots.index(s)}", paused_since=slots[3]
    )
    assert [c.outcome for c in cells] == ["succeeded", "waiting", "missed", "skipped"]
    assert [c.run_id for c in cells] == ["id-0", "id-1", None, None]


def test_stacked_columns_scale_to_the_fullest_bucket():
    buckets = [T0, T0 + timedelta(minutes=1)]
    counts = {
        (T0, RunStatus.SUCCESS): 3,
        (T0, RunStatus.ERROR): 1,
        (buckets[1], RunStatus.SUCCESS): 2,
    }
    columns, peak = pictures.stacked_columns(buckets, counts)
    assert peak == 4
    assert columns[0].segments == [("SUCCESS", 3, 25.0, 75.0), ("ERROR", 1, 0.0, 25.0)]
    assert columns[1].segments == [("SUCCESS", 2, 50.0, 50.0)]


def test_values_are_shown_as_plain_json():
    value = {
        "at": T0,
        "day": date(2026, 3, 1),
        "n": Decimal("1.50"),
        "id": uuid.UUID(int=1),
        "raw": b"\x00\x01",
        "pair": (1, 2),
        3: {"x"},
    }
    shown = json.loads(display.pretty(serialization.dumps(value)))
    assert shown == {
        "at": "2026-03-01T12:00:00+00:00",
        "day": "2026-03-01",
        "n": "1.50",
        "id": "00000000-0000-0000-0000-000000000001",
        "raw": "base64:AAE=",
        "pair": [1, 2],
        "3": ["x"],
    }
    assert display.pretty(None) == "-"
    assert display.pretty("not json") == "not json"


def test_long_ids_are_shortened_in_the_middle_and_durations_read_well():
    long_id = "sched-every-minute-metrics-2026-12-01T21:58:00+00:00"
    assert display.short_id(long_id, 24) == "sched-eve…21:58:00+00:00"
    assert len(display.short_id(long_id, 24)) == 24
    assert display.short_id("short") == "short"
    assert [display.seconds(v) for v in (0.0421, 12.3, 60, 245, 7380, 200000)] == [
        "0.042 s",
        "12 s",
        "60 s",
        "4 min 05 s",
        "2 h 03 min",
        "2 d 07 h",
    ]
