"""The Django admin as the operations console: schedules, runs and the dashboard.

Wiring only: every action calls a service function (``django_durable.schedules`` or the
engine's ``control`` module), records what it did in the admin's history (``LogEntry``)
and reports it.

- ``display``: how values are shown; ``pictures``: the timeline, the slot strip, charts;
- ``lists``: filters, the capped paginator, the checked changelist;
- ``schedules``, ``backfill``: the schedules' pages; ``runs``: the runs' pages;
- ``queues``: each queue's limits, editable at runtime;
- ``dashboard``: the operations dashboard.
"""

from __future__ import annotations

from django_durable.admin.dashboard import DashboardAdmin
from django_durable.admin.lists import CappedCountPaginator, DurableChangeList
from django_durable.admin.queues import WorkflowQueueAdmin
from django_durable.admin.runs import WorkflowRunAdmin
from django_durable.admin.schedules import WorkflowScheduleAdmin

__all__ = [
    "CappedCountPaginator",
    "DashboardAdmin",
    "DurableChangeList",
    "WorkflowQueueAdmin",
    "WorkflowRunAdmin",
    "WorkflowScheduleAdmin",
]
