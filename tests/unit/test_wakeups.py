"""Waiters and waits (``engine.wakeups``), the options context managers, and the words
for a parked run's wait: pure Python, no database."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import django_durable as durable
from django_durable import context
from django_durable.engine import wakeups
from django_durable.models import waits


@pytest.fixture
def box(monkeypatch: pytest.MonkeyPatch) -> wakeups.Wakeups:
    """Waiters without a LISTEN connection (these tests touch no database)."""
    monkeypatch.setattr(wakeups.Wakeups, "_listen", lambda self: None)
    return wakeups.Wakeups()


def test_a_waiter_set_before_it_waits_returns_at_once_and_forgets_it():
    waiter = wakeups.Waiter()
    waiter.set()
    assert waiter.wait(10) is True
    assert waiter.wait(0.01) is False


def test_an_async_waiter_is_woken_from_another_thread():
    waiter = wakeups.Waiter()

    async def wait() -> bool:
        threading.Timer(0.05, waiter.set).start()
        return await waiter.wait_async(10)

    started = time.monotonic()
    assert asyncio.run(wait()) is True
    assert time.monotonic() - started < 5
    assert asyncio.run(waiter.wait_async(0.01)) is False


def test_a_wake_reaches_the_waiters_of_its_key_only(box):
    mine, other = box.register("a"), box.register("b")
    box.wake("a")
    assert mine.wait(0) is True and other.wait(0) is False
    box.unregister("a", mine)
    box.wake("a")
    assert mine.wait(0) is False


def test_wait_for_looks_again_when_woken(box):
    found: list[str] = []

    def arrive() -> None:
        found.append("x")
        box.wake("k")

    threading.Timer(0.05, arrive).start()
    started = time.monotonic()
    assert wakeups.wait_for(box, "k", lambda: found[0] if found else None, None) == "x"
    assert time.monotonic() - started < 5


def test_wait_for_polls_without_a_wake_and_gives_up_at_its_limit(box):
    looks: list[float] = []

    def check() -> None:
        looks.append(time.monotonic())

    assert wakeups.wait_for(box, "k", check, time.monotonic() + 0.3) is None
    assert len(looks) >= 3  # 10 ms, then 20, 40, 80...: more than one look
    assert not box._waiters  # unregistered


def test_a_cancelled_wait_ends_within_a_slice(box):
    class Stop(Exception):
        pass

    stop = threading.Event()

    def cancelled() -> None:
        if stop.is_set():
            raise Stop

    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Stop):
        wakeups.wait_for(box, "k", lambda: None, None, cancelled=cancelled)
    assert time.monotonic() - started < 5


def test_await_for_returns_what_the_check_finds(box):
    calls: list[int] = []

    async def check() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) == 3 else None

    assert asyncio.run(wakeups.await_for(box, "k", check, None)) == 3


def test_keys_keep_kinds_apart():
    assert wakeups.message_key("run", None) != wakeups.message_key("run", "")
    assert wakeups.event_key("a", "b") != wakeups.stream_key("a", "b")


def test_set_workflow_timeout_sets_and_restores_the_context():
    assert context.workflow_timeout() is None
    with durable.SetWorkflowTimeout(5):
        assert context.workflow_timeout() == context.Timeout(5.0)
        with durable.SetWorkflowTimeout(None):
            assert context.workflow_timeout() == context.Timeout(None)
        assert context.workflow_timeout() == context.Timeout(5.0)
    assert context.workflow_timeout() is None


def test_enqueue_options_carry_the_delay_and_the_policy():
    with durable.SetEnqueueOptions(
        deduplication_id="d", delay_seconds=2, deduplication_policy="return_existing"
    ):
        options = context.enqueue_options()
    assert options == context.EnqueueOptions(
        deduplication_id="d", delay_seconds=2.0, deduplication_policy="return_existing"
    )
    assert durable.SetEnqueueOptions().options.deduplication_policy == "reject"


def test_a_wait_is_described_for_people():
    assert waits.describe("message", "approval", None) == "a message on topic 'approval'"
    assert waits.describe("message", None, None) == "a message"
    assert waits.describe("event", "status", "run-1") == "event 'status' of run run-1"
    assert waits.describe("sleep", None, None) == "its durable sleep to end"
    assert waits.describe("debounce", None, None) == "more calls to its debouncer"
    assert waits.describe("unknown", None, None) == "unknown"
