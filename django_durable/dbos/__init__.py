"""DBOS Transact's Python API on django_durable: change ``from dbos import ...`` to
``from django_durable.dbos import ...`` and the code runs on your Django database.

Every name here is a thin map onto the package's public API (``django_durable.<name>``):
there is no second implementation. Names of features a version of the package does not
have raise ``AttributeError`` when used. docs/migrating.md lists the deliberate
differences (JSON instead of pickle, times as datetimes, ...).
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django_durable import exceptions
from django_durable.context import SetEnqueueOptions, SetWorkflowID
from django_durable.dbos._client import DBOSClient
from django_durable.dbos._dbos import DBOS
from django_durable.dbos._handles import WorkflowHandleAsync
from django_durable.dbos._queue import Queue
from django_durable.engine.decorators import ConfiguredInstance as DBOSConfiguredInstance
from django_durable.engine.handles import WorkflowHandle
from django_durable.values import StepStatus, WorkflowStatus

if TYPE_CHECKING:
    from django_durable.client import EnqueueOptions
    from django_durable.schedules import ScheduleInput

__all__ = [
    "DBOS",
    "DBOSAwaitedWorkflowCancelledError",
    "DBOSClient",
    "DBOSConfig",
    "DBOSConfiguredInstance",
    "DBOSException",
    "DBOSMaxStepRetriesExceeded",
    "DBOSNonExistentWorkflowError",
    "DBOSQueueDeduplicatedError",
    "DBOSStepTimeoutError",
    "DBOSUnexpectedStepError",
    "DBOSWorkflowCancelledError",
    "DBOSWorkflowConflictIDError",
    "EnqueueOptions",
    "MaxRecoveryAttemptsExceededError",
    "Queue",
    "ScheduleInput",
    "SetEnqueueOptions",
    "SetWorkflowID",
    "StepInfo",
    "StepStatus",
    "WorkflowHandle",
    "WorkflowHandleAsync",
    "WorkflowStatus",
    "WorkflowStatusString",
]

DBOSConfig = dict
"""DBOS's configuration dict: accepted by ``DBOS(config=...)`` and not used (settings are
Django's ``DURABLE`` dict)."""

StepInfo = dict
"""``list_workflow_steps`` returns plain dicts with DBOS's ``StepInfo`` keys."""


class WorkflowStatusString(StrEnum):
    """The statuses of a run, as DBOS names them."""

    PENDING = "PENDING"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    MAX_RECOVERY_ATTEMPTS_EXCEEDED = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"
    CANCELLED = "CANCELLED"
    ENQUEUED = "ENQUEUED"


DBOSException = exceptions.DurableError
"""The base of every error django_durable raises."""
DBOSNonExistentWorkflowError = exceptions.WorkflowNotFound
DBOSWorkflowConflictIDError = exceptions.WorkflowConflict
DBOSUnexpectedStepError = exceptions.NonDeterministicWorkflowError
DBOSWorkflowCancelledError = exceptions.WorkflowCancelled
DBOSAwaitedWorkflowCancelledError = exceptions.WorkflowCancelled
DBOSQueueDeduplicatedError = exceptions.QueueDeduplicatedError
DBOSMaxStepRetriesExceeded = exceptions.MaxStepRetriesExceeded
MaxRecoveryAttemptsExceededError = exceptions.MaxRecoveryAttemptsExceeded
DBOSStepTimeoutError = exceptions.StepTimeout

_LATER = {
    "EnqueueOptions": "django_durable.client",
    "ScheduleInput": "django_durable.schedules",
}
"""Names loaded from their module on first use."""
_PACKAGE = ("SetWorkflowTimeout", "Debouncer")
"""Names that are the package's (``django_durable.<name>``), looked up when used."""


__all__ += [name for name in _PACKAGE if hasattr(importlib.import_module("django_durable"), name)]


def __getattr__(name: str) -> Any:
    if name in _LATER:
        value = getattr(importlib.import_module(_LATER[name]), name)
        globals()[name] = value
        return value
    if name in _PACKAGE:
        try:
            return getattr(importlib.import_module("django_durable"), name)
        except AttributeError:
            raise AttributeError(
                f"django_durable.dbos.{name} has no counterpart in this version of django_durable."
            ) from None
    raise AttributeError(f"module 'django_durable.dbos' has no attribute {name!r}")
