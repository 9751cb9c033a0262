"""Workflows the test suite runs; module level, so the registry can resolve them by name.

Step bodies count their executions in ``CALLS`` (this process) and, where a test needs to
count across processes, write ``Event`` rows.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import django_durable as durable
from tests.models import Event

CALLS: Counter[str] = Counter()
GATE = threading.Event()


class PaymentDeclined(Exception):
    """A user-defined error that must come back as itself after replay."""


@durable.step()
def add_one(x: int) -> int:
    CALLS["add_one"] += 1
    return x + 1


@durable.step()
def double(x: int) -> int:
    CALLS["double"] += 1
    return x * 2


@durable.step()
def to_text(x: int) -> str:
    CALLS["to_text"] += 1
    return f"value={x}"


@durable.workflow()
def three_steps(x: int) -> str:
    return to_text(double(add_one(x)))


@durable.step()
def noop_step(i: int) -> int:
    return i


@durable.workflow()
def trivial_three_steps(x: int) -> int:
    noop_step(1)
    noop_step(2)
    return noop_step(x)


@durable.step()
def rich_value() -> dict[str, Any]:
    CALLS["rich_value"] += 1
    return {
        "when": datetime(2026, 3, 8, 7, 30, tzinfo=durable_utc()),
        "amount": Decimal("10.50"),
        "pair": (1, 2),
        "tags": {"a", "b"},
    }


def durable_utc() -> Any:

    return UTC


@durable.workflow()
def rich_workflow() -> dict[str, Any]:
    return rich_value()


@durable.step()
def decline(amount: int) -> None:
    CALLS["decline"] += 1
    raise PaymentDeclined(f"declined {amount}")


@durable.workflow()
def catches_step_error(amount: int) -> str:
    try:
        decline(amount)
    except PaymentDeclined as exc:
        return f"handled: {exc}"
    return "not reached"


@durable.workflow()
def failing_workflow(amount: int) -> None:
    decline(amount)


@durable.step()
def unserialisable_step() -> object:
    CALLS["unserialisable_step"] += 1
    return object()


@durable.workflow()
def returns_unserialisable_from_step() -> object:
    return unserialisable_step()


ATTEMPTS: Counter[str] = Counter()


@durable.step(retries_allowed=True, max_attempts=3, interval_seconds=0.01, backoff_rate=2.0)
def flaky(succeed_on: int) -> str:
    ATTEMPTS["flaky"] += 1
    if ATTEMPTS["flaky"] < succeed_on:
        raise ConnectionError(f"attempt {ATTEMPTS['flaky']} failed")
    return f"ok after {ATTEMPTS['flaky']}"


@durable.workflow()
def flaky_workflow(succeed_on: int) -> str:
    return flaky(succeed_on)


@durable.step(
    retries_allowed=True,
    max_attempts=5,
    interval_seconds=0.0,
    should_retry=lambda exc: isinstance(exc, ConnectionError),
)
def picky(kind: str) -> None:
    ATTEMPTS["picky"] += 1
    if kind == "value":
        raise ValueError("not worth retrying")
    raise ConnectionError("worth retrying")


@durable.workflow()
def picky_workflow(kind: str) -> None:
    picky(kind)


@durable.transaction()
def write_event(label: str, value: int) -> int:
    CALLS["write_event"] += 1
    return Event.objects.create(label=label, value=value).value


@durable.transaction()
def write_then_fail(label: str) -> None:
    Event.objects.create(label=label)
    raise PaymentDeclined("rolled back")


@durable.workflow()
def transaction_workflow(label: str) -> int:
    first = write_event(label, 1)
    second = write_event(label, 2)
    return first + second


@durable.workflow()
def failing_transaction_workflow(label: str) -> str:
    try:
        write_then_fail(label)
    except PaymentDeclined:
        return "caught"
    return "not reached"


@durable.workflow()
def child(x: int) -> int:
    return add_one(x)


@durable.workflow()
def parent(x: int) -> list[Any]:
    a = add_one(x)
    b = child(a)
    handle = durable.start_workflow(child, 100)
    return [a, b, handle.get_workflow_id(), handle.get_result(timeout=10)]


@durable.workflow()
def sleeper(seconds: float) -> str:
    durable.sleep(seconds)
    return "awake"


@durable.workflow()
def ids_workflow() -> dict[str, Any]:
    return {"workflow": durable.workflow_id(), "step": ids_step()}


@durable.step()
def ids_step() -> Any:
    return [durable.workflow_id(), durable.step_id()]


@durable.workflow()
def waits_for_gate(x: int) -> int:
    y = add_one(x)
    GATE.wait(10)
    return add_one(y)


@durable.workflow(name="renamed-workflow")
def named_workflow() -> str:
    return "named"


@durable.workflow()
def kwargs_workflow(a: int, *, b: int = 2, c: tuple[int, int] = (0, 0)) -> list[Any]:
    return [a, b, c]


# Crash recovery: a run whose process is killed between step 2 and step 3.


@durable.step()
def crash_step(label: str, n: int) -> int:
    Event.objects.create(label=label, value=n)
    return n


@durable.workflow()
def crash_workflow(label: str) -> int:
    total = crash_step(label, 1) + crash_step(label, 2)
    if os.environ.get("DURABLE_TEST_CRASH_AFTER_STEP_2") == "1":
        # Stand still until the test kills this process (or kill it ourselves).
        if os.environ.get("DURABLE_TEST_SELF_KILL") == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    return total + crash_step(label, 3)


# Async workflows.


@durable.step()
async def async_add(x: int) -> int:
    CALLS["async_add"] += 1
    return x + 10


@durable.workflow()
async def async_workflow(x: int) -> list[int]:
    a = await async_add(x)
    b = add_one(a)  # a sync step called from an async workflow
    c = write_event("async", b)  # a sync transaction too
    await durable.sleep_async(0.01)
    return [a, b, c]


# Class-based workflows (the seeds' patterns).


@durable.durable_class()
class DataWorkflows:
    workflow_count = 0
    transaction_count = 0

    @staticmethod
    @durable.workflow()
    def process_data(input_data: str) -> str:
        DataWorkflows.workflow_count += 1
        db_result = DataWorkflows.save_to_db(input_data)
        processed = DataWorkflows.transform_data(input_data)
        return f"{db_result}-{processed}"

    @staticmethod
    @durable.transaction()
    def save_to_db(data: str) -> str:
        from django.db import connection

        DataWorkflows.transaction_count += 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            rows = cursor.fetchall()
        return f"{data}-{rows[0][0]}"

    @staticmethod
    @durable.step()
    def transform_data(data: str) -> str:
        return data.upper()

    @classmethod
    @durable.workflow()
    def class_level(cls, x: int) -> str:
        return f"{cls.__name__}:{cls.double_it(x)}"

    @staticmethod
    @durable.step()
    def double_it(x: int) -> int:
        return 2 * x


@durable.durable_class()
class URLFetcher(durable.ConfiguredInstance):
    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(config_name=url)

    @durable.workflow()
    def fetch_workflow(self) -> str:
        return self.fetch_url()

    @durable.step()
    def fetch_url(self) -> str:
        return f"Content from {self.url}"


example_fetcher = URLFetcher("https://example.com")
other_fetcher = URLFetcher("https://example.org")


@durable.durable_class(class_name="RenamedClass")
class OriginalName:
    @staticmethod
    @durable.workflow()
    def run() -> str:
        return "renamed class"


# ---------------------------------------------------------------- added for test_async.py
# (cancellation of an async workflow during its durable sleep)


@durable.workflow()
async def async_sleeper(seconds: float) -> str:
    await durable.sleep_async(seconds)
    return "awake"


# ---------------------------------------------------------------- Queues
# (added for tests/integration/test_queues.py, test_worker.py, test_runscheduler.py and
# tests/process/test_workers.py; every name starts with "queues-" / "queued_")

QUEUE_PLAIN = durable.Queue("queues-plain")
"""No limits."""
QUEUE_SERIAL = durable.Queue("queues-serial", concurrency=1)
"""One run at a time across all processes."""
QUEUE_LIMITED = durable.Queue("queues-limited", concurrency=2, limiter={"limit": 3, "period": 60})
"""A global limit and a rate limit: claimers take turns."""
QUEUE_PER_WORKER = durable.Queue("queues-per-worker", concurrency=4, worker_concurrency=1)
"""At most one run per process, four in all."""
QUEUE_RATE = durable.Queue("queues-rate", limiter={"limit": 2, "period": 0.5})
"""At most two runs start in any half second."""


@durable.step()
def queued_clock() -> float:
    """The wall clock (``time.time()``, comparable across processes)."""
    return time.time()


@durable.workflow()
def queued_timed(seconds: float) -> list[float]:
    """Returns ``[start, end]``: clock readings around a sleep, to check overlaps."""
    start = queued_clock()
    time.sleep(seconds)
    return [start, queued_clock()]


@durable.step()
def queued_mark(label: str, value: int) -> int:
    """An ``Event`` per execution, counted across processes."""
    Event.objects.create(label=label, value=value)
    return value


@durable.workflow()
def queued_slow(label: str, seconds: float) -> str:
    """Event 1, a sleep of ``seconds``, event 2: long enough to signal a worker mid-run."""
    queued_mark(label, 1)
    time.sleep(seconds)
    queued_mark(label, 2)
    return label


@durable.workflow()
def queued_two_transactions(seconds: float) -> str:
    """Two exactly-once ``Event`` writes (label = this run's id) around a short sleep."""
    wid = str(durable.workflow_id())
    write_event(wid, 1)
    time.sleep(seconds)
    write_event(wid, 2)
    return wid


@durable.workflow()
def queued_enqueues_child(x: int) -> str:
    """Enqueues ``child(x)`` (step 1), then runs a step: the enqueue is a recorded child."""
    handle = QUEUE_PLAIN.enqueue(child, x)
    add_one(x)
    return handle.get_workflow_id()


# ---------------------------------------------------------------------------- schedules

QUEUE_SCHEDULED = durable.Queue("queues-scheduled")

FIRED: list[tuple[str, datetime, Any]] = []
"""``(workflow, scheduled_at, context)`` of each scheduled run executed in this process."""


@durable.workflow()
def scheduled_report(scheduled_at: datetime, context: Any) -> str:
    """A scheduled workflow: records what it received and returns the slot."""
    FIRED.append(("scheduled_report", scheduled_at, context))
    return scheduled_at.isoformat()


@durable.workflow()
async def scheduled_async(scheduled_at: datetime, context: Any) -> str:
    FIRED.append(("scheduled_async", scheduled_at, context))
    return scheduled_at.isoformat()


@durable.workflow()
def backup_database(scheduled_at: datetime, context: Any) -> None:
    """The seeds' name, so ``list_schedules(workflow_name="backup_database")`` works."""
    FIRED.append(("backup_database", scheduled_at, context))


@durable.workflow()
def one_argument(x: int) -> int:
    """Not schedulable: it does not take ``(scheduled_at, context)``."""
    return x


@durable.durable_class()
class MyScheduledClass:
    @staticmethod
    @durable.workflow()
    def scheduled_wf(scheduled_at: datetime, ctx: Any) -> None:
        FIRED.append(("MyScheduledClass.scheduled_wf", scheduled_at, ctx))

    @classmethod
    @durable.workflow()
    def class_wf(cls, scheduled_at: datetime, ctx: Any) -> str:
        FIRED.append((f"{cls.__name__}.class_wf", scheduled_at, ctx))
        return cls.__name__


@durable.durable_class()
class InvalidScheduled(durable.ConfiguredInstance):
    def __init__(self) -> None:
        super().__init__("invalid-config")

    @durable.workflow()
    def instance_workflow(self, scheduled_at: datetime, ctx: Any) -> None:
        FIRED.append(("InvalidScheduled.instance_workflow", scheduled_at, ctx))


INVALID_SCHEDULED = InvalidScheduled()


@durable.scheduled("0 */5 * * * *", name="code-every-5-minutes", context={"source": "code"})
@durable.workflow()
def code_scheduled(scheduled_at: datetime, context: Any) -> None:
    """A code-defined schedule (written as a row when a scheduler starts)."""
    FIRED.append(("code_scheduled", scheduled_at, context))


# ---------------------------------------------------------------- admin
# (added for tests/integration/test_admin.py: "retry from the failed step")

ADMIN_FAIL = threading.Event()
"""While set, ``admin_second_step`` raises: a run fails at its step 2."""


@durable.step()
def admin_second_step(x: int) -> int:
    CALLS["admin_second_step"] += 1
    if ADMIN_FAIL.is_set():
        raise PaymentDeclined(f"step 2 failed for {x}")
    return x * 10


@durable.workflow()
def admin_fails_at_step_two(x: int) -> int:
    """Steps: add_one, admin_second_step (fails while ``ADMIN_FAIL`` is set), add_one."""
    return add_one(admin_second_step(add_one(x)))


# ---------------------------------------------------------------- engine edges
# (added for tests/integration/test_engine_edges.py and tests/process/test_gathered_steps.py)


def _create_event(label: str, value: int) -> None:
    from django.db import connections

    try:
        Event.objects.create(label=label, value=value)
    finally:
        connections.close_all()  # a helper thread of the event loop: leave no connection


@durable.step()
async def gathered_step(label: str, value: int) -> int:
    """Counts its executions (``CALLS`` here, an ``Event`` across processes), waits a
    little so the gathered steps overlap, and returns ``value * 10``."""
    import asyncio

    from asgiref.sync import sync_to_async

    if value == 3 and os.environ.get("DURABLE_TEST_GATHER_HANG") == "1":
        await asyncio.sleep(60)  # stands still until the test kills this process
    CALLS[f"gathered_step:{value}"] += 1
    await sync_to_async(_create_event, thread_sensitive=False)(label, value)
    await asyncio.sleep(0.05 * value)
    return value * 10


@durable.workflow()
async def gathers_three(label: str) -> list[int]:
    """``asyncio.gather`` of three steps, then a fourth after them."""
    import asyncio

    results = await asyncio.gather(
        gathered_step(label, 1), gathered_step(label, 2), gathered_step(label, 3)
    )
    return [*results, await gathered_step(label, 4)]


@durable.workflow()
async def task_group_three(label: str) -> list[int]:
    """The same three steps as tasks of a ``TaskGroup`` and ``create_task``."""
    import asyncio

    async with asyncio.TaskGroup() as group:
        first = group.create_task(gathered_step(label, 1))
        second = group.create_task(gathered_step(label, 2))
    third = asyncio.get_running_loop().create_task(gathered_step(label, 3))
    return [first.result(), second.result(), await third]


@durable.workflow()
def step_in_a_plain_thread(x: int) -> str:
    """Calls a step in a thread it starts without its context: refused, not a plain call."""
    errors: list[BaseException] = []

    def body() -> None:
        try:
            add_one(x)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return f"{type(errors[0]).__name__}: {errors[0]}" if errors else "no error"


@durable.workflow()
def step_in_a_thread_with_context(x: int) -> list[int]:
    """Calls steps in threads started with the workflow's context: each is recorded."""
    import contextvars

    results: list[int] = []
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(lambda: results.append(add_one(x)),)
    )
    thread.start()
    thread.join()
    return [*results, double(x)]


@durable.workflow()
def reads_another_run(workflow_id: str) -> dict[str, Any]:
    """Reads another run's status and result and lists runs: each read is recorded."""
    handle = durable.retrieve_workflow(workflow_id)
    status = handle.get_status()
    listed = durable.list_workflows(workflow_ids=[workflow_id])
    return {
        "status": status.status,
        "result": handle.get_result(timeout=10),
        "listed": [run.status for run in listed],
    }


DEDUP_QUEUE = durable.Queue("queues-dedup-in-workflow")


@durable.workflow()
def enqueues_a_duplicate(dedup: str) -> str:
    """Enqueues ``child`` twice under one deduplication id: the second enqueue is refused,
    and the refusal is recorded (a replay refuses it again without enqueueing)."""
    with durable.SetEnqueueOptions(deduplication_id=dedup):
        DEDUP_QUEUE.enqueue(child, 1)
        try:
            DEDUP_QUEUE.enqueue(child, 2)
        except durable.QueueDeduplicatedError as exc:
            return f"refused: {exc}"
    return "not refused"


SQL_ERROR_ATTEMPTS: Counter[str] = Counter()


@durable.transaction()
def bad_sql() -> None:
    from django.db import connection

    SQL_ERROR_ATTEMPTS["bad_sql"] += 1
    with connection.cursor() as cursor:
        cursor.execute("SELEC 1")  # a syntax error: the body's own error


@durable.workflow()
def runs_bad_sql() -> None:
    bad_sql()


@durable.transaction(isolation_level="SERIALIZABLE")
def conflicts_then_writes(label: str, conflicts: int) -> int:
    """Hits a real serialization failure (PostgreSQL) on its first ``conflicts`` attempts,
    then writes an ``Event``."""
    from django.db import connection

    SQL_ERROR_ATTEMPTS[label] += 1
    if SQL_ERROR_ATTEMPTS[label] <= conflicts:
        with connection.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'simulated conflict' "
                "USING ERRCODE = 'serialization_failure'; END $$"
            )
    return Event.objects.create(label=label, value=SQL_ERROR_ATTEMPTS[label]).value


@durable.workflow()
def retries_a_conflict(label: str, conflicts: int) -> int:
    return conflicts_then_writes(label, conflicts)


@durable.workflow(max_recovery_attempts=None)
def recovered_without_limit(x: int) -> int:
    return add_one(x)


async def _retry_async_value_errors(exc: BaseException) -> bool:
    return isinstance(exc, ValueError)


@durable.step(
    retries_allowed=True,
    max_attempts=4,
    interval_seconds=0.0,
    should_retry=_retry_async_value_errors,
)
async def async_picky(kind: str) -> str:
    ATTEMPTS[f"async_picky:{kind}"] += 1
    if ATTEMPTS[f"async_picky:{kind}"] < 3:
        raise (ValueError if kind == "value" else KeyError)(kind)
    return f"{kind} after {ATTEMPTS[f'async_picky:{kind}']}"


@durable.workflow()
async def async_picky_workflow(kind: str) -> str:
    return await async_picky(kind)


@durable.workflow()
async def async_starts_and_reads(x: int) -> list[Any]:
    """The async drivers inside a workflow: start, retrieve and list."""
    handle = await durable.start_workflow_async(child, x)
    again = await durable.retrieve_workflow_async(handle.get_workflow_id())
    result = await again.get_result_async(timeout=10)
    listed = await durable.list_workflows_async(workflow_ids=[handle.get_workflow_id()])
    return [handle.get_workflow_id(), result, [run.status for run in listed]]


# ---------------------------------------------------------------- messaging
# (the workflows of the messages, events, streams, timeouts and parking tests)

from tests import messaging_workflows  # noqa: E402, F401


@durable.workflow()
def manages_a_schedule(name: str) -> list[Any]:
    """Creates, reads, pauses and deletes a schedule: each call is recorded as a step."""
    created = durable.create_schedule(
        schedule_name=name, workflow_fn=scheduled_report, schedule="0 0 * * *"
    )
    listed = durable.list_schedules(schedule_name_prefix=name)
    paused = durable.pause_schedule(name)
    read = durable.get_schedule(name)
    return [created["status"], len(listed), paused, read["status"] if read else None]


@durable.workflow()
def triggers_a_schedule(name: str) -> str:
    return durable.trigger_schedule(name).get_workflow_id()
