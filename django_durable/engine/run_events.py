"""Events: a run publishes values under keys (``set_event``, the latest value wins);
anyone reads them (``get_event`` waits for one, ``get_all_events``).

From a workflow's body ``set_event`` is a step whose write commits with its checkpoint;
``get_event`` and ``get_all_events`` are recorded like steps, so a replay sees the value
the first execution saw. A ``get_event`` inside a worker's run that waits long parks
the run; the ``set_event`` it waits for wakes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from django_durable import conf, context, serialization
from django_durable.context import RunContext
from django_durable.db import NOTIFY_CHANNEL, advisory_xact_lock, exclusive_transaction, notify
from django_durable.engine import awaiting, parking, sleeping, steps, transactions, wakeups
from django_durable.engine import runtime as runtimes
from django_durable.engine.recorded import recorded
from django_durable.models import RunStatus, StepOutput, WaitingFor, WorkflowEvent, WorkflowRun

logger = logging.getLogger(__name__)

SET_EVENT_STEP = "durable.set_event"
GET_EVENT_STEP = "durable.get_event"
GET_ALL_EVENTS_STEP = "durable.get_all_events"


def _lock(workflow_id: str, key: str) -> str:
    """The advisory lock that orders a ``set_event`` and a run parking to wait for it."""
    return f"event:{workflow_id}:{key}"


def publish(workflow_id: str, key: str, payload: str) -> None:
    """Write the event (in its own transaction, or the caller's) and wake its waiters."""
    using = conf.database_alias()
    now = timezone.now()
    with exclusive_transaction(using):
        advisory_xact_lock(using, _lock(workflow_id, key))
        events = WorkflowEvent.objects.using(using).filter(run_id=workflow_id, key=key)
        step = context.step_id()
        if not events.update(value=payload, step_number=step, updated_at=now):
            WorkflowEvent.objects.using(using).create(
                run_id=workflow_id, key=key, value=payload, step_number=step, updated_at=now
            )
        parked = WorkflowRun.objects.using(using).filter(
            status=RunStatus.ENQUEUED,
            waiting_for=WaitingFor.EVENT,
            wait_workflow_id=workflow_id,
            wait_key=key,
            run_after__gt=now,
        )
        queues = set(parked.values_list("queue_name", flat=True))
        if queues and parked.update(run_after=now, updated_at=now):
            for queue_name in sorted(map(str, queues)):
                notify(using, queue_name, NOTIFY_CHANNEL)
        wakeups.announce(using, wakeups.event_key(workflow_id, key))


def _set_job(key: Any, value: Any) -> Callable[[], None]:
    name = awaiting.check_name(key, "key")
    assert name is not None  # noqa: S101  (not optional)
    payload = serialization.dumps(value)
    run, workflow_id = awaiting.owner("set_event")
    if run is None:  # inside a step: part of the step, written again if the step is
        return lambda: publish(workflow_id, name, payload)
    number = run.next_number()

    def body() -> dict[str, Any]:
        publish(workflow_id, name, payload)
        return {"key": name, "value": value}  # the checkpoint keeps it, for forks

    def job() -> None:
        transactions.execute(run, number, SET_EVENT_STEP, body)

    return job


def set_event(key: str, value: Any) -> None:
    """Publish ``value`` under ``key`` for the calling workflow (the latest value wins).
    Recorded as a step: a replay does not publish again."""
    job = _set_job(key, value)
    run = steps.durable_run()
    if run is not None and steps.in_event_loop():
        steps.off_loop(run, job)
        return
    job()


async def set_event_async(key: str, value: Any) -> None:
    """``set_event`` for coroutines."""
    job = _set_job(key, value)
    await runtimes.current().run_sync(job)


# ---------------------------------------------------------------- reading


def read(workflow_id: str, key: str) -> tuple[Any] | None:
    """``(value,)`` of the event, or ``None`` if it has not been set."""
    stored = (
        WorkflowEvent.objects.using(conf.database_alias())
        .filter(run_id=workflow_id, key=key)
        .values_list("value", flat=True)
        .first()
    )
    return None if stored is None else (serialization.loads(stored),)


def _value(found: tuple[Any] | None) -> Any:
    return None if found is None else found[0]


def _wait_outside(workflow_id: str, key: str, seconds: float) -> Any:
    wakeups_ = runtimes.current().wakeups
    found = wakeups.wait_for(
        wakeups_,
        wakeups.event_key(workflow_id, key),
        lambda: read(workflow_id, key),
        wakeups.monotonic_until(seconds),
    )
    return _value(found if found is not None else read(workflow_id, key))


def _park(run: RunContext, until_at: Any, workflow_id: str, key: str) -> Callable[[], bool]:
    return lambda: parking.park(
        run,
        until_at,
        WaitingFor.EVENT,
        key=key,
        target=workflow_id,
        still_waiting=lambda: read(workflow_id, key) is None,
        lock=_lock(workflow_id, key),
    )


def get_event(workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
    """The value ``workflow_id`` published under ``key``, waiting up to ``timeout_seconds``
    for it to be set; ``None`` if it is not. Inside a workflow it is recorded as a step."""
    target = awaiting.check_workflow_id(workflow_id)
    name = awaiting.check_name(key, "key")
    assert name is not None  # noqa: S101
    seconds = awaiting.check_timeout(timeout_seconds)
    run = steps.durable_run()
    if run is None:
        return _wait_outside(target, name, seconds)
    awaiting.refuse_on_loop("get_event")
    number, timer = run.next_number(), run.next_number()
    recorded_step = run.replayed(number, GET_EVENT_STEP)
    if recorded_step is not None:
        return steps.replay(recorded_step)
    run.check_cancelled()
    found = read(target, name)
    if found is None:
        until_at = sleeping.wake_time(run, timer, seconds)
        awaiting.wait(
            run,
            wakeups.event_key(target, name),
            until_at,
            lambda: read(target, name) is not None,
            _park(run, until_at, target, name),
        )
        found = read(target, name)
    return steps.execute(run, number, GET_EVENT_STEP, lambda: _value(found))


async def get_event_async(workflow_id: str, key: str, timeout_seconds: float = 60) -> Any:
    """``get_event`` for coroutines."""
    target = awaiting.check_workflow_id(workflow_id)
    name = awaiting.check_name(key, "key")
    assert name is not None  # noqa: S101
    seconds = awaiting.check_timeout(timeout_seconds)
    runtime = runtimes.current()
    run = steps.durable_run()
    event_key = wakeups.event_key(target, name)
    if run is None:

        async def check() -> tuple[Any] | None:
            return await runtime.run_sync(lambda: read(target, name))

        found = await wakeups.await_for(
            runtime.wakeups, event_key, check, wakeups.monotonic_until(seconds)
        )
        if found is None:
            found = await runtime.run_sync(lambda: read(target, name))
        return _value(found)
    number, timer = run.next_number(), run.next_number()
    recorded_step = run.replayed(number, GET_EVENT_STEP)
    if recorded_step is not None:
        return steps.replay(recorded_step)
    run.check_cancelled()
    found = await runtime.run_sync(lambda: read(target, name))
    if found is None:
        until_at = await runtime.run_sync(lambda: sleeping.wake_time(run, timer, seconds))
        await awaiting.await_(
            run,
            event_key,
            until_at,
            lambda: read(target, name) is not None,
            _park(run, until_at, target, name),
        )
        found = await runtime.run_sync(lambda: read(target, name))
    value = _value(found)

    async def body() -> Any:
        return value

    return await steps.aexecute(run, number, GET_EVENT_STEP, body)


def _all_events(workflow_id: str) -> dict[str, Any]:
    rows = (
        WorkflowEvent.objects.using(conf.database_alias())
        .filter(run_id=workflow_id)
        .order_by("key")
        .values_list("key", "value")
    )
    return {key: serialization.loads(value) for key, value in rows}


def get_all_events(workflow_id: str) -> dict[str, Any]:
    """Every event ``workflow_id`` has published, ``{key: latest value}`` (recorded as a
    step inside a workflow)."""
    target = awaiting.check_workflow_id(workflow_id)
    return recorded(GET_ALL_EVENTS_STEP, lambda: _all_events(target))


async def get_all_events_async(workflow_id: str) -> dict[str, Any]:
    """``get_all_events`` for coroutines."""
    target = awaiting.check_workflow_id(workflow_id)
    runtime = runtimes.current()
    run = steps.durable_run()
    if run is None:
        return await runtime.run_sync(lambda: _all_events(target))
    number = run.next_number()

    async def body() -> Any:
        return await runtime.run_sync(lambda: _all_events(target))

    return await steps.aexecute(run, number, GET_ALL_EVENTS_STEP, body)  # type: ignore[no-any-return]


def events_before(source_id: str, start_step: int, using: str) -> dict[str, tuple[int, str]]:
    """``{key: (step, stored value)}``: the value each event of ``source_id`` had after
    its steps before ``start_step`` (what a fork from ``start_step`` starts with)."""
    latest: dict[str, tuple[int, str]] = {}
    sets = (
        StepOutput.objects.using(using)
        .filter(run_id=source_id, step_name=SET_EVENT_STEP, step_number__lt=start_step)
        .exclude(output=None)
        .order_by("step_number")
        .values_list("step_number", "output")
    )
    for number, output in sets:
        stored = serialization.loads(output)
        if isinstance(stored, dict) and isinstance(stored.get("key"), str):
            latest[stored["key"]] = (number, serialization.dumps(stored.get("value")))
    rows = WorkflowEvent.objects.using(using).filter(run_id=source_id, step_number__lt=start_step)
    for key, step, value in rows.values_list("key", "step_number", "value"):
        if step is not None and (key not in latest or latest[key][0] < step):
            latest[key] = (step, value)
    return latest
