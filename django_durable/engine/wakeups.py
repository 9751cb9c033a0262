"""Waking whoever waits for a message, an event or a stream entry, in any process.

A waiter registers what it waits for (a key) with its runtime, looks at the database,
then waits. A write announces its key: once its transaction commits, the waiters of that
key in every runtime of this process wake at once, and on PostgreSQL the waiters of
other processes too (``NOTIFY`` on ``WAKE_CHANNEL``; each runtime that has waiters
listens on one connection of its own). Without a live ``LISTEN`` (SQLite, or while the
listener reconnects) waiters poll the database, less often each time, at most
``POLL_CAP`` seconds apart; with one, they still look every ``LISTEN_RECHECK`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.db import transaction

from django_durable import conf
from django_durable.db import WAKE_CHANNEL, is_postgresql, listen_payloads, notify

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_POLL = 0.01
"""Seconds before the second look at the database while nothing notifies."""
POLL_CAP = 0.5
"""The longest pause between two looks while nothing notifies (SQLite)."""
LISTEN_RECHECK = 2.0
"""The pause between two looks while ``LISTEN`` is live: a safety net."""
CANCEL_SLICE = 0.1
"""How often a wait inside a workflow checks whether its run was cancelled."""


def message_key(workflow_id: str, topic: str | None) -> str:
    return json.dumps(["message", workflow_id, topic])


def event_key(workflow_id: str, key: str) -> str:
    return json.dumps(["event", workflow_id, key])


def stream_key(workflow_id: str, key: str) -> str:
    return json.dumps(["stream", workflow_id, key])


class Waiter:
    """One waiting thread or task; ``set()`` from any thread wakes it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._future: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def set(self) -> None:
        self._event.set()
        with self._lock:
            future, loop = self._future, self._loop
        if future is not None and loop is not None:
            try:
                loop.call_soon_threadsafe(_settle, future)
            except RuntimeError:  # its loop has closed: nobody waits any more
                pass

    def wait(self, timeout: float) -> bool:
        """Block until woken or ``timeout``; whether it was woken (then forget it: the
        caller looks at the database next, so a wake-up after this one is not lost)."""
        fired = self._event.wait(timeout)
        if fired:
            self._event.clear()
        return fired

    async def wait_async(self, timeout: float) -> bool:
        """``wait`` without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._future, self._loop = future, loop
        try:
            if not self._event.is_set():
                try:
                    await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    pass
            fired = self._event.is_set()
            if fired:
                self._event.clear()
            return fired
        finally:
            with self._lock:
                self._future = self._loop = None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Wakeups:
    """The waiters of one runtime, by key, and its ``LISTEN`` connection (PostgreSQL)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = {}
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._listener: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        """Whether notifications from other processes arrive right now."""
        return self._ready.is_set()

    def register(self, key: str) -> Waiter:
        waiter = Waiter()
        with self._lock:
            self._waiters.setdefault(key, set()).add(waiter)
        self._listen()
        return waiter

    def unregister(self, key: str, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[key]

    def wake(self, key: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(key, ()))
        for waiter in waiters:
            waiter.set()

    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None or self._stopping.is_set():
                return
            using = conf.database_alias()
            if not is_postgresql(using):
                return
            self._listener = threading.Thread(
                target=listen_payloads,
                args=(using, WAKE_CHANNEL, self.wake, self._stopping, self._ready),
                name="durable-wakeups",
                daemon=True,
            )
        self._listener.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            listener = self._listener
        if listener is not None:
            listener.join(5)


def announce(using: str, key: str) -> None:
    """Wake the waiters of ``key`` once the current transaction on ``using`` commits (at
    once in autocommit): here directly, in other processes through ``NOTIFY``."""
    from django_durable.engine import runtime as runtimes

    notify(using, key, WAKE_CHANNEL)
    transaction.on_commit(lambda: runtimes.wake_waiters(key), using=using)


class _Polls:
    """When to look at the database next while waiting."""

    def __init__(self, wakeups: Wakeups) -> None:
        self.wakeups = wakeups
        self.delay = FIRST_POLL

    def next_pause(self) -> float:
        if self.wakeups.listening:
            return LISTEN_RECHECK
        pause, self.delay = self.delay, min(self.delay * 2, POLL_CAP)
        return pause


def _slice(until: float | None, next_look: float, cancellable: bool) -> float:
    end = next_look if until is None else min(until, next_look)
    pause = end - time.monotonic()
    return min(pause, CANCEL_SLICE) if cancellable else pause


def wait_for(
    wakeups: Wakeups,
    key: str,
    check: Callable[[], T | None],
    until: float | None,
    *,
    cancelled: Callable[[], None] | None = None,
) -> T | None:
    """Call ``check()`` until it returns something other than ``None`` (returned), or
    until the monotonic time ``until`` passes (``None``: the caller looks a last time).
    ``cancelled()`` is called between looks and raises to end the wait."""
    waiter = wakeups.register(key)
    try:
        polls = _Polls(wakeups)
        while True:
            value = check()
            if value is not None:
                return value
            next_look = time.monotonic() + polls.next_pause()
            while True:
                if cancelled is not None:
                    cancelled()
                if until is not None and time.monotonic() >= until:
                    return None
                pause = _slice(until, next_look, cancelled is not None)
                if pause <= 0 or waiter.wait(pause) or time.monotonic() >= next_look:
                    break
    finally:
        wakeups.unregister(key, waiter)


async def await_for(
    wakeups: Wakeups,
    key: str,
    check: Callable[[], Awaitable[T | None]],
    until: float | None,
    *,
    cancelled: Callable[[], None] | None = None,
) -> T | None:
    """``wait_for`` for coroutines: ``check`` is awaited, nothing blocks the loop."""
    waiter = wakeups.register(key)
    try:
        polls = _Polls(wakeups)
        while True:
            value = await check()
            if value is not None:
                return value
            next_look = time.monotonic() + polls.next_pause()
            while True:
                if cancelled is not None:
                    cancelled()
                if until is not None and time.monotonic() >= until:
                    return None
                pause = _slice(until, next_look, cancelled is not None)
                if pause <= 0 or await waiter.wait_async(pause) or time.monotonic() >= next_look:
                    break
    finally:
        wakeups.unregister(key, waiter)


def monotonic_until(seconds: float | None) -> float | None:
    """The monotonic time ``seconds`` from now (``None`` stays ``None``)."""
    return None if seconds is None else time.monotonic() + max(seconds, 0.0)


def seconds_until(when: Any) -> float:
    """Seconds from now until the aware datetime ``when`` (negative once it passed)."""
    from django.utils import timezone

    return float((when - timezone.now()).total_seconds())
