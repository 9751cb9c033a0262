"""What a parked run waits for: the choices of ``WorkflowRun.waiting_for``."""

from __future__ import annotations

from django.db import models


class WaitingFor(models.TextChoices):
    """What a parked run waits for. A parked run is ``ENQUEUED`` with its wake-up time in
    ``run_after``: any worker resumes it then, or earlier when what it waits for comes."""

    SLEEP = "sleep", "its durable sleep to end"
    MESSAGE = "message", "a message"
    EVENT = "event", "an event of another run"
    DEBOUNCE = "debounce", "more calls to its debouncer"


CLEARED_WAIT = {
    "run_after": None,
    "deadline": None,
    "waiting_for": None,
    "wait_key": None,
    "wait_workflow_id": None,
}
"""The fields a resume clears: no delay, no wait, a new deadline when it starts."""


def describe(waiting_for: str, key: str | None, target: str | None) -> str:
    """What a parked run waits for, for people: ``a message on topic 'approval'``."""
    if waiting_for == WaitingFor.MESSAGE:
        return "a message" + (f" on topic {key!r}" if key is not None else "")
    if waiting_for == WaitingFor.EVENT:
        return f"event {key!r} of run {target}"
    if waiting_for in WaitingFor.values:
        return str(WaitingFor(waiting_for).label)
    return waiting_for
