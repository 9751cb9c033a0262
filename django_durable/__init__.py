"""Durable workflows and a durable cron scheduler for Django.

``import django_durable as durable`` and use the names in ``__all__``. Importing this
package has no side effects: each name is loaded from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_durable.context import (
        SetEnqueueOptions,
        SetWorkflowID,
        SetWorkflowTimeout,
        step_id,
        workflow_id,
    )
    from django_durable.engine.calls import start_workflow, start_workflow_async
    from django_durable.engine.control import (
        cancel_workflow,
        fork_workflow,
        list_workflows,
        list_workflows_async,
        recover_pending_workflows,
        resume_workflow,
        retrieve_workflow,
        retrieve_workflow_async,
    )
    from django_durable.engine.debouncer import Debouncer
    from django_durable.engine.decorators import (
        ConfiguredInstance,
        dbos_class,
        durable_class,
        step,
        transaction,
        workflow,
    )
    from django_durable.engine.handles import WorkflowHandle
    from django_durable.engine.messages import recv, recv_async, send, send_async
    from django_durable.engine.run_events import (
        get_all_events,
        get_all_events_async,
        get_event,
        get_event_async,
        set_event,
        set_event_async,
    )
    from django_durable.engine.sleeping import sleep, sleep_async
    from django_durable.engine.streams import (
        close_stream,
        close_stream_async,
        read_stream,
        read_stream_async,
        write_stream,
        write_stream_async,
    )
    from django_durable.exceptions import (
        ConfigurationError,
        DurableError,
        ExecutionInterrupted,
        InvalidScheduleError,
        InvalidStateError,
        MaxRecoveryAttemptsExceeded,
        MaxStepRetriesExceeded,
        NonDeterministicWorkflowError,
        QueueDeduplicatedError,
        RecordedError,
        RegistrationError,
        ScheduleConflict,
        ScheduleNotFound,
        SerializationError,
        WorkflowCancelled,
        WorkflowConflict,
        WorkflowNotFound,
        WorkflowNotRegistered,
        WorkflowTimeout,
    )
    from django_durable.log import logger
    from django_durable.queues import Queue
    from django_durable.schedules import (
        ScheduleInput,
        apply_schedules,
        backfill_schedule,
        create_schedule,
        delete_schedule,
        get_schedule,
        list_schedules,
        pause_schedule,
        resume_schedule,
        scheduled,
        trigger_schedule,
    )
    from django_durable.values import WorkflowStatus

_EXPORTS = {
    "SetEnqueueOptions": "django_durable.context",
    "SetWorkflowID": "django_durable.context",
    "SetWorkflowTimeout": "django_durable.context",
    "step_id": "django_durable.context",
    "workflow_id": "django_durable.context",
    "start_workflow": "django_durable.engine.calls",
    "start_workflow_async": "django_durable.engine.calls",
    "cancel_workflow": "django_durable.engine.control",
    "fork_workflow": "django_durable.engine.control",
    "list_workflows": "django_durable.engine.control",
    "list_workflows_async": "django_durable.engine.control",
    "recover_pending_workflows": "django_durable.engine.control",
    "resume_workflow": "django_durable.engine.control",
    "retrieve_workflow": "django_durable.engine.control",
    "retrieve_workflow_async": "django_durable.engine.control",
    "ConfiguredInstance": "django_durable.engine.decorators",
    "durable_class": "django_durable.engine.decorators",
    "dbos_class": "django_durable.engine.decorators",
    "step": "django_durable.engine.decorators",
    "transaction": "django_durable.engine.decorators",
    "workflow": "django_durable.engine.decorators",
    "Debouncer": "django_durable.engine.debouncer",
    "WorkflowHandle": "django_durable.engine.handles",
    "recv": "django_durable.engine.messages",
    "recv_async": "django_durable.engine.messages",
    "send": "django_durable.engine.messages",
    "send_async": "django_durable.engine.messages",
    "get_all_events": "django_durable.engine.run_events",
    "get_all_events_async": "django_durable.engine.run_events",
    "get_event": "django_durable.engine.run_events",
    "get_event_async": "django_durable.engine.run_events",
    "set_event": "django_durable.engine.run_events",
    "set_event_async": "django_durable.engine.run_events",
    "close_stream": "django_durable.engine.streams",
    "close_stream_async": "django_durable.engine.streams",
    "read_stream": "django_durable.engine.streams",
    "read_stream_async": "django_durable.engine.streams",
    "write_stream": "django_durable.engine.streams",
    "write_stream_async": "django_durable.engine.streams",
    "sleep": "django_durable.engine.sleeping",
    "sleep_async": "django_durable.engine.sleeping",
    "ConfigurationError": "django_durable.exceptions",
    "DurableError": "django_durable.exceptions",
    "InvalidStateError": "django_durable.exceptions",
    "MaxRecoveryAttemptsExceeded": "django_durable.exceptions",
    "MaxStepRetriesExceeded": "django_durable.exceptions",
    "NonDeterministicWorkflowError": "django_durable.exceptions",
    "RecordedError": "django_durable.exceptions",
    "RegistrationError": "django_durable.exceptions",
    "SerializationError": "django_durable.exceptions",
    "WorkflowCancelled": "django_durable.exceptions",
    "WorkflowConflict": "django_durable.exceptions",
    "WorkflowNotFound": "django_durable.exceptions",
    "WorkflowNotRegistered": "django_durable.exceptions",
    "WorkflowTimeout": "django_durable.exceptions",
    "logger": "django_durable.log",
    "Queue": "django_durable.queues",
    "ExecutionInterrupted": "django_durable.exceptions",
    "QueueDeduplicatedError": "django_durable.exceptions",
    "WorkflowStatus": "django_durable.values",
    "ScheduleInput": "django_durable.schedules",
    "apply_schedules": "django_durable.schedules",
    "backfill_schedule": "django_durable.schedules",
    "create_schedule": "django_durable.schedules",
    "delete_schedule": "django_durable.schedules",
    "get_schedule": "django_durable.schedules",
    "list_schedules": "django_durable.schedules",
    "pause_schedule": "django_durable.schedules",
    "resume_schedule": "django_durable.schedules",
    "scheduled": "django_durable.schedules",
    "trigger_schedule": "django_durable.schedules",
    "InvalidScheduleError": "django_durable.exceptions",
    "ScheduleConflict": "django_durable.exceptions",
    "ScheduleNotFound": "django_durable.exceptions",
}

__all__ = [
    "ConfigurationError",
    "ConfiguredInstance",
    "Debouncer",
    "DurableError",
    "ExecutionInterrupted",
    "InvalidScheduleError",
    "InvalidStateError",
    "MaxRecoveryAttemptsExceeded",
    "MaxStepRetriesExceeded",
    "NonDeterministicWorkflowError",
    "Queue",
    "QueueDeduplicatedError",
    "RecordedError",
    "RegistrationError",
    "ScheduleConflict",
    "ScheduleInput",
    "ScheduleNotFound",
    "SerializationError",
    "SetEnqueueOptions",
    "SetWorkflowID",
    "SetWorkflowTimeout",
    "WorkflowCancelled",
    "WorkflowConflict",
    "WorkflowHandle",
    "WorkflowNotFound",
    "WorkflowNotRegistered",
    "WorkflowStatus",
    "WorkflowTimeout",
    "apply_schedules",
    "backfill_schedule",
    "cancel_workflow",
    "close_stream",
    "close_stream_async",
    "create_schedule",
    "dbos_class",
    "delete_schedule",
    "durable_class",
    "fork_workflow",
    "get_all_events",
    "get_all_events_async",
    "get_event",
    "get_event_async",
    "get_schedule",
    "list_schedules",
    "list_workflows",
    "list_workflows_async",
    "logger",
    "pause_schedule",
    "read_stream",
    "read_stream_async",
    "recover_pending_workflows",
    "recv",
    "recv_async",
    "resume_schedule",
    "resume_workflow",
    "retrieve_workflow",
    "retrieve_workflow_async",
    "scheduled",
    "send",
    "send_async",
    "set_event",
    "set_event_async",
    "sleep",
    "sleep_async",
    "start_workflow",
    "start_workflow_async",
    "step",
    "step_id",
    "transaction",
    "trigger_schedule",
    "workflow",
    "workflow_id",
    "write_stream",
    "write_stream_async",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'django_durable' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
