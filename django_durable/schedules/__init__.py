"""Schedules: the API, the ``@scheduled`` decorator and the fire rule."""

from __future__ import annotations

from django_durable.schedules.api import (
    Backfill,
    ScheduleInput,
    apply_schedules,
    backfill,
    backfill_schedule,
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    pause_schedule,
    resume_schedule,
    trigger_schedule,
)
from django_durable.schedules.code import SyncResult, scheduled, sync_code_schedules

__all__ = [
    "Backfill",
    "ScheduleInput",
    "SyncResult",
    "apply_schedules",
    "backfill",
    "backfill_schedule",
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "scheduled",
    "sync_code_schedules",
    "trigger_schedule",
]
