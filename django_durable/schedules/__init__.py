"""Schedules: the API, the ``@scheduled`` decorator and the fire rule."""

from __future__ import annotations

from django_durable.schedules.api import ScheduleInput, save_schedule
from django_durable.schedules.code import SyncResult, scheduled, sync_code_schedules
from django_durable.schedules.manual import (
    Backfill,
    backfill,
    backfill_range,
    backfill_slots,
    row_slots,
)
from django_durable.schedules.public import (
    apply_schedules,
    backfill_schedule,
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)

__all__ = [
    "Backfill",
    "ScheduleInput",
    "SyncResult",
    "apply_schedules",
    "backfill",
    "backfill_range",
    "backfill_schedule",
    "backfill_slots",
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "row_slots",
    "save_schedule",
    "scheduled",
    "sync_code_schedules",
    "trigger_schedule",
]
