"""The schedule functions as the package exports them: inside a workflow, the reads and
writes of schedules are recorded as steps (a replay sees what the first execution saw and
changes nothing twice), and the functions that enqueue runs outside the workflow's record
(``apply_schedules``, ``backfill_schedule``, ``trigger_schedule``) are refused."""

from __future__ import annotations

from django_durable.engine.recorded import recorded_in_workflows, refused_in_workflows
from django_durable.schedules import api, manual

create_schedule = recorded_in_workflows("durable.create_schedule")(api.create_schedule)
list_schedules = recorded_in_workflows("durable.list_schedules")(api.list_schedules)
get_schedule = recorded_in_workflows("durable.get_schedule")(api.get_schedule)
pause_schedule = recorded_in_workflows("durable.pause_schedule")(api.pause_schedule)
resume_schedule = recorded_in_workflows("durable.resume_schedule")(api.resume_schedule)
delete_schedule = recorded_in_workflows("durable.delete_schedule")(api.delete_schedule)

apply_schedules = refused_in_workflows(api.apply_schedules)
backfill_schedule = refused_in_workflows(manual.backfill_schedule)
trigger_schedule = refused_in_workflows(manual.trigger_schedule)

__all__ = [
    "apply_schedules",
    "backfill_schedule",
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "list_schedules",
    "pause_schedule",
    "resume_schedule",
    "trigger_schedule",
]
