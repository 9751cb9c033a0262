"""Signals of django_durable, each sent once the transaction that caused it has committed.

Inside your own ``transaction.atomic()`` they are sent when it commits (and never if it
rolls back); otherwise at once. Receivers run in the thread that caused the event (a
worker's thread for the run signals). An exception in a receiver is logged and does not
affect the run: the signals are sent with ``send_robust``.

The ``sender`` of the run and step signals is the ``WorkflowRun`` model, that of
``schedule_fired`` the ``WorkflowSchedule`` model (as for Django's model signals); filter
on one workflow with the ``workflow_name`` argument.

``workflow_enqueued``
    A run was written as ``ENQUEUED``: ``Queue.enqueue``, a scheduler fire, a trigger, a
    backfill, a resume or a fork. Arguments: ``workflow_id``, ``workflow_name``,
    ``queue_name``.
``workflow_started``
    This process begins executing a run's body (again after a recovery or a resume).
    Arguments: ``workflow_id``, ``workflow_name``, ``executor_id``, ``queue_name``.
``workflow_finished``
    A run reached a final status. Arguments: ``workflow_id``, ``workflow_name``,
    ``status`` (a ``RunStatus`` value: ``SUCCESS``, ``ERROR``, ``CANCELLED`` or
    ``MAX_RECOVERY_ATTEMPTS_EXCEEDED``), ``queue_name``.
``step_completed``
    A step's output or error was checkpointed (not sent when a replay returns a recorded
    step). Arguments: ``workflow_id``, ``workflow_name``, ``step_number``, ``step_name``,
    ``failed`` (whether the step recorded an error), ``duration`` (seconds from the
    step's start to its checkpoint, ``None`` when not measured).
``schedule_fired``
    A scheduler fired a schedule. Arguments: ``schedule_name``, ``slots`` (the slots
    enqueued, aware datetimes in UTC, oldest first), ``workflow_ids`` (their runs, in the
    same order) and ``workflow_name``.
``schedule_missed``
    A scheduler left due slots of a schedule out (missed without automatic backfill, or
    beyond ``MAX_BACKFILL``). Sent at once. Arguments: ``schedule_name``,
    ``workflow_name``, ``since`` (the oldest slot left out or the schedule's old next
    fire time).
``schedule_skipped``
    A due schedule cannot fire in this process (its workflow is not registered, its queue
    is not declared...) and was skipped until the next review. Sent at once. Arguments:
    ``schedule_name``, ``workflow_name``, ``reason``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

workflow_enqueued = Signal()
workflow_started = Signal()
workflow_finished = Signal()
step_completed = Signal()
schedule_fired = Signal()
schedule_missed = Signal()
schedule_skipped = Signal()


def send_robust(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` now; log (never raise) what its receivers raise."""
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "Receiver %r of a django_durable signal raised %s: %s",
                receiver,
                type(result).__name__,
                result,
                exc_info=result,
                extra={"action": "signal_receiver_failed"},
            )
