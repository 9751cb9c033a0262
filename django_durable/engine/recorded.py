"""Calls recorded like steps when made inside a workflow, so replay sees the same value.

``retrieve_workflow(...).get_status()`` / ``get_result()``, ``list_workflows`` and the
schedule reads and writes read or change the world outside the run; inside a workflow each
is a step of its own (its value, or its error, is checkpointed), as in DBOS. Outside a
workflow they are plain calls.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django_durable import error_records
from django_durable.engine import steps
from django_durable.exceptions import InvalidStateError
from django_durable.values import WorkflowStatus

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def recorded(
    name: str,
    fn: Callable[[], T],
    *,
    encode: Callable[[T], Any] | None = None,
    decode: Callable[[Any], T] | None = None,
) -> T:
    """``fn()``, recorded as step ``name`` when called from a workflow's body.

    ``encode`` turns the value into what the checkpoint stores, ``decode`` turns it back.
    """
    run = steps.durable_run()
    if run is None:
        return fn()
    number = run.next_number()

    def body() -> Any:
        value = fn()
        return encode(value) if encode is not None else value

    if steps.in_event_loop():
        stored = steps.off_loop(run, lambda: steps.execute(run, number, name, body))
    else:
        stored = steps.execute(run, number, name, body)
    return decode(stored) if decode is not None else stored


def recorded_in_workflows(name: str) -> Callable[[F], F]:
    """Decorate an API function so that, inside a workflow, each call is recorded as step
    ``name`` (its value must be JSON)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return recorded(name, lambda: fn(*args, **kwargs))

        return wrapper  # type: ignore[return-value]

    return decorate


def refused_in_workflows(fn: F) -> F:
    """Decorate an API function that must not run inside a workflow: what it does could
    not be replayed (it enqueues runs outside the workflow's record)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = steps.durable_run()
        if run is not None:
            raise InvalidStateError(
                f"{fn.__name__}() cannot be called inside a workflow (run "
                f"{run.workflow_id!r}): its effect would not be recorded for replay. Call "
                f"it from a step, or from outside the workflow."
            )
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def encode_status(status: WorkflowStatus | None) -> dict[str, Any] | None:
    """A ``WorkflowStatus`` as JSON for a checkpoint (its error encoded as recorded)."""
    if status is None:
        return None
    fields = {f.name: getattr(status, f.name) for f in dataclasses.fields(status)}
    error = fields.pop("error")
    fields["error"] = error_records.encode_exception(error) if error is not None else None
    return fields


def decode_status(stored: dict[str, Any] | None) -> WorkflowStatus | None:
    if stored is None:
        return None
    fields = dict(stored)
    error = fields.pop("error")
    fields["error"] = error_records.decode_exception(error) if error is not None else None
    return WorkflowStatus(**fields)


def encode_statuses(statuses: list[WorkflowStatus]) -> list[Any]:
    return [encode_status(status) for status in statuses]


def decode_statuses(stored: list[Any]) -> list[WorkflowStatus]:
    return [status for status in map(decode_status, stored) if status is not None]
