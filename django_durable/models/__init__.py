"""Tables of django_durable: runs and their steps, executors, schedules, and the
messages, events and streams of runs."""

from __future__ import annotations

from django_durable.models.executors import Executor, ExecutorQuerySet
from django_durable.models.messaging import (
    StreamEntry,
    WorkflowEvent,
    WorkflowMessage,
    WorkflowMessageQuerySet,
)
from django_durable.models.queues import QueueOrigin, WorkflowQueue, WorkflowQueueQuerySet
from django_durable.models.runs import (
    FINISHED,
    IN_FLIGHT,
    RunStatus,
    WorkflowRun,
    WorkflowRunQuerySet,
)
from django_durable.models.schedules import (
    ScheduleOrigin,
    ScheduleStatus,
    WorkflowSchedule,
    WorkflowScheduleQuerySet,
)
from django_durable.models.steps import Dashboard, StepOutput
from django_durable.models.waits import WaitingFor

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
    "StreamEntry",
    "WaitingFor",
    "WorkflowEvent",
    "WorkflowMessage",
    "WorkflowMessageQuerySet",
    "WorkflowQueue",
    "WorkflowQueueQuerySet",
    "WorkflowRun",
    "WorkflowRunQuerySet",
    "WorkflowSchedule",
    "WorkflowScheduleQuerySet",
]
