"""Messages to runs: ``send`` from anywhere, ``recv`` inside the receiving workflow.

A message is a ``WorkflowMessage`` row. ``recv`` takes the oldest unread message of its
topic and writes its own checkpoint in the same transaction, so a message is received
exactly once even if the process dies right after. Its wait's end is recorded as a step
too (a ``durable.sleep`` marker), so a recovered or parked-and-resumed run waits only
what is left. A ``send`` wakes the receiver wherever it waits: a thread of this process
at once, another process through ``NOTIFY`` (PostgreSQL) or its next look (SQLite), and
a parked run by moving its ``run_after`` to now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from django_durable import conf, serialization
from django_durable.context import RunContext
from django_durable.db import NOTIFY_CHANNEL, exclusive_transaction, notify
from django_durable.engine import awaiting, parking, sleeping, steps, transactions, wakeups
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import WorkflowNotFound
from django_durable.models import RunStatus, WaitingFor, WorkflowMessage, WorkflowRun

logger = logging.getLogger(__name__)

SEND_STEP = "durable.send"
RECV_STEP = "durable.recv"


# ---------------------------------------------------------------- send


def deliver(destination_id: str, payload: str, topic: str | None, key: str | None) -> None:
    """Write one message (in its own transaction, or the caller's) and wake its receiver.

    The destination's row is locked first, so a receiver that parks at the same moment
    either sees the message or is woken by it. ``WorkflowNotFound`` writes nothing; a
    message whose idempotency key this destination has already received is not written
    again.
    """
    using = conf.database_alias()
    with exclusive_transaction(using):
        row = (
            WorkflowRun.objects.using(using)
            .select_for_update()
            .filter(pk=destination_id)
            .values_list("status", "waiting_for", "wait_key", "queue_name")
            .first()
        )
        if row is None:
            raise WorkflowNotFound(
                f"Cannot send to workflow {destination_id!r}: no run has that id."
            )
        messages = WorkflowMessage.objects.using(using)
        if (
            key is not None
            and messages.filter(destination_id=destination_id, idempotency_key=key).exists()
        ):
            return
        messages.create(
            destination_id=destination_id, topic=topic, message=payload, idempotency_key=key
        )
        status, waiting_for, wait_key, queue_name = row
        parked = status == RunStatus.ENQUEUED and waiting_for == WaitingFor.MESSAGE
        if parked and wait_key == topic:
            now = timezone.now()
            woken = (
                WorkflowRun.objects.using(using)
                .filter(pk=destination_id, status=RunStatus.ENQUEUED, run_after__gt=now)
                .update(run_after=now, updated_at=now)
            )
            if woken:
                notify(using, str(queue_name), NOTIFY_CHANNEL)
        wakeups.announce(using, wakeups.message_key(destination_id, topic))
    logger.debug(
        "Sent a message to workflow %s on topic %r",
        destination_id,
        topic,
        extra={"action": "message_sent", "workflow_id": destination_id},
    )


def _send_job(
    destination_id: Any, message: Any, topic: Any, idempotency_key: Any
) -> Callable[[], None]:
    """Check the arguments (nothing is written if one is bad) and number the send now
    when a workflow's body makes it; the job that sends."""
    destination = awaiting.check_workflow_id(destination_id)
    name = awaiting.check_name(topic, "topic", optional=True)
    key = awaiting.check_name(idempotency_key, "idempotency_key", optional=True)
    payload = serialization.dumps(message)
    run = steps.durable_run()
    if run is None:
        return lambda: deliver(destination, payload, name, key)
    number = run.next_number()
    return lambda: transactions.execute(
        run, number, SEND_STEP, lambda: deliver(destination, payload, name, key)
    )


def send(
    destination_id: str, message: Any, topic: str | None = None, idempotency_key: str | None = None
) -> None:
    """Send ``message`` (any JSON-storable value) to the run ``destination_id`` on
    ``topic``. From a workflow it is recorded as a step: sent once. With an
    ``idempotency_key`` a repeated call sends once. ``WorkflowNotFound`` if no run has
    that id."""
    job = _send_job(destination_id, message, topic, idempotency_key)
    run = steps.durable_run()
    if run is not None and steps.in_event_loop():
        steps.off_loop(run, job)
        return
    job()


async def send_async(
    destination_id: str, message: Any, topic: str | None = None, idempotency_key: str | None = None
) -> None:
    """``send`` for coroutines (the rows are written off the event loop)."""
    job = _send_job(destination_id, message, topic, idempotency_key)
    await runtimes.current().run_sync(job)


# ---------------------------------------------------------------- recv


def has_unread(workflow_id: str, topic: str | None) -> bool:
    return WorkflowMessage.objects.using(conf.database_alias()).unread(workflow_id, topic).exists()


def take(workflow_id: str, topic: str | None) -> Any:
    """Consume the oldest unread message of ``topic`` (inside the step's transaction);
    its value, or ``None`` if there is none."""
    using = conf.database_alias()
    unread = WorkflowMessage.objects.using(using).unread(workflow_id, topic)
    message = unread.select_for_update().values_list("pk", "message").first()
    if message is None:
        return None
    WorkflowMessage.objects.using(using).filter(pk=message[0], consumed_at=None).update(
        consumed_at=timezone.now()
    )
    return serialization.loads(message[1])


def _park(run: RunContext, until_at: Any, topic: str | None) -> Callable[[], bool]:
    return lambda: parking.park(
        run,
        until_at,
        WaitingFor.MESSAGE,
        key=topic,
        still_waiting=lambda: not has_unread(run.workflow_id, topic),
    )


def recv(topic: str | None = None, timeout_seconds: float = 60) -> Any:
    """Inside a workflow: the next message sent to it on ``topic``, in arrival order, each
    message received once; ``None`` if none comes within ``timeout_seconds``."""
    name = awaiting.check_name(topic, "topic", optional=True)
    seconds = awaiting.check_timeout(timeout_seconds)
    run = awaiting.workflow_run("recv")
    awaiting.refuse_on_loop("recv")
    number, timer = run.next_number(), run.next_number()
    recorded = run.replayed(number, RECV_STEP)
    if recorded is not None:
        return steps.replay(recorded)
    run.check_cancelled()

    def receive() -> Any:
        return transactions.execute(run, number, RECV_STEP, lambda: take(run.workflow_id, name))

    if has_unread(run.workflow_id, name):
        return receive()
    until_at = sleeping.wake_time(run, timer, seconds)
    key = wakeups.message_key(run.workflow_id, name)
    awaiting.wait(
        run, key, until_at, lambda: has_unread(run.workflow_id, name), _park(run, until_at, name)
    )
    return receive()


async def recv_async(topic: str | None = None, timeout_seconds: float = 60) -> Any:
    """``recv`` for ``async def`` workflows."""
    name = awaiting.check_name(topic, "topic", optional=True)
    seconds = awaiting.check_timeout(timeout_seconds)
    run = awaiting.workflow_run("recv_async")
    number, timer = run.next_number(), run.next_number()
    recorded = run.replayed(number, RECV_STEP)
    if recorded is not None:
        return steps.replay(recorded)
    run.check_cancelled()
    runtime = run.runtime

    def receive() -> Any:
        return transactions.execute(run, number, RECV_STEP, lambda: take(run.workflow_id, name))

    if await runtime.run_sync(lambda: has_unread(run.workflow_id, name)):
        return await runtime.run_sync(receive)
    until_at = await runtime.run_sync(lambda: sleeping.wake_time(run, timer, seconds))
    key = wakeups.message_key(run.workflow_id, name)
    await awaiting.await_(
        run, key, until_at, lambda: has_unread(run.workflow_id, name), _park(run, until_at, name)
    )
    return await runtime.run_sync(receive)
