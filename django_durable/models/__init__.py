"""Tables of django_durable: runs and their steps, executors, schedules."""

from __future__ import annotations

from django_durable.models.executors import Executor, ExecutorQuerySet
from django_durable.models.queues import QueueOrigin, WorkflowQueue, WorkflowQueueQuerySet
from django_durable.models.runs import (
    FINISHED,
    IN_FLIGHT,
    Dashboard,
    RunStatus,
    StepOutput,
    WorkflowRun,
    WorkflowRunQuerySet,
)
from django_durable.models.schedules import (
    ScheduleOrigin,
    ScheduleStatus,
    WorkflowSchedule,
    WorkflowScheduleQuerySet,
)

__all__ = [
    "FINISHED",
    "IN_FLIGHT",
    "Dashboard",
    "Executor",
    "ExecutorQuerySet",
    "QueueOrigin",
    "RunStatus",
    "ScheduleOrigin",
    "ScheduleStatus",
    "StepOutput",
    "WorkflowQueue",
    "WorkflowQueueQuerySet",
    "WorkflowRun",
    "WorkflowRunQuerySet",
    "WorkflowSchedule",
    "WorkflowScheduleQuerySet",
]
