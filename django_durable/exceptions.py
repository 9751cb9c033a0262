"""Every error django_durable raises derives from :class:`DurableError`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class DurableError(Exception):
    """Base class of every django_durable error."""


class ConfigurationError(DurableError, ImproperlyConfigured):
    """The ``DURABLE`` setting or a decorator argument is invalid."""


class RegistrationError(DurableError, ValueError):
    """A workflow, class or configured instance cannot be registered as asked."""


class SerializationError(DurableError, TypeError):
    """A value cannot be stored as tagged JSON (its type is named in the message)."""


class WorkflowNotFound(DurableError, LookupError):
    """No run exists with the given workflow id."""


class WorkflowNotRegistered(DurableError, LookupError):
    """A stored run or schedule names a workflow this process does not have."""


class WorkflowConflict(DurableError, ValueError):
    """A workflow id is already used by a run of another workflow."""


class NonDeterministicWorkflowError(DurableError):
    """Replay met a step whose recorded name differs from the step being run."""


class WorkflowCancelled(DurableError):
    """The run was cancelled; its remaining steps do not run."""


class WorkflowTimeout(DurableError, TimeoutError):
    """A handle's ``get_result(timeout=...)`` waited longer than allowed."""


class MaxRecoveryAttemptsExceeded(DurableError):
    """The run was recovered more often than its workflow's ``max_recovery_attempts``."""


class InvalidStateError(DurableError, ValueError):
    """The run is not in a state that allows the requested operation."""


class MaxStepRetriesExceeded(DurableError):
    """A step with retries failed on every attempt; ``errors`` holds each attempt's error."""

    def __init__(self, step_name: str, errors: list[BaseException]) -> None:
        self.step_name = step_name
        self.errors = list(errors)
        last = errors[-1] if errors else None
        super().__init__(
            f"Step {step_name!r} failed after {len(errors)} attempt(s); "
            f"last error: {type(last).__name__}: {last}"
        )

    def __reduce__(self) -> Any:
        return (type(self), (self.step_name, self.errors))


class RecordedError(DurableError):
    """A stored error whose original type cannot be rebuilt in this process.

    ``type_path``, ``message``, ``error_args`` and ``traceback_text`` carry what was
    recorded when the error happened.
    """

    def __init__(
        self,
        type_path: str,
        message: str,
        error_args: list[Any] | None = None,
        traceback_text: str = "",
    ) -> None:
        self.type_path = type_path
        self.message = message
        self.error_args = list(error_args or [])
        self.traceback_text = traceback_text
        super().__init__(f"{type_path}: {message}")


class QueueDeduplicatedError(DurableError, ValueError):
    """The queue already has an active run with the same deduplication id."""


class InvalidQueueError(DurableError, ValueError):
    """A queue's settings are invalid; ``field`` names the offending setting."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> Any:
        return (_rebuild_invalid_queue, (str(self), self.field))


def _rebuild_invalid_queue(message: str, field: str | None) -> InvalidQueueError:
    return InvalidQueueError(message, field=field)


class QueueNotFound(DurableError, LookupError):
    """No queue has the given name."""


class StepTimeout(DurableError, TimeoutError):
    """An ``async def`` step ran longer than its ``timeout_seconds``; it was cancelled."""


class InvalidScheduleError(DurableError, ValueError):
    """A schedule's definition is invalid; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> Any:
        return (_rebuild_invalid_schedule, (str(self), self.field))


def _rebuild_invalid_schedule(message: str, field: str | None) -> InvalidScheduleError:
    return InvalidScheduleError(message, field=field)


class ScheduleNotFound(DurableError, LookupError):
    """No schedule has the given name."""


class ScheduleConflict(DurableError, ValueError):
    """A schedule with that name exists, or it is defined in code and cannot be changed
    through the API."""


class ExecutionInterrupted(BaseException):
    """The engine lost its database while running a workflow.

    Nothing was recorded as a failure: the run stays ``PENDING`` and is resumed from its
    last checkpoint. A ``BaseException``, so ``except Exception`` in workflow code does not
    swallow it.
    """
