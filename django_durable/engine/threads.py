"""Threads a workflow starts: each remembers the run that started it, so a durable call
made there without the workflow's context is refused instead of silently running as a
plain call."""

from __future__ import annotations

import threading
import weakref

from django_durable import context
from django_durable.context import RunContext

_patched: list[bool] = []
_patch_lock = threading.Lock()


def tag_threads_with_their_run() -> None:
    """Make each thread started while a workflow runs remember which run started it, so a
    step called in such a thread without the workflow's context fails with a clear error
    instead of running as a plain call (see ``run_of_this_thread``). One attribute per
    ``Thread.start``; installed once per process, when the first runtime is created."""
    with _patch_lock:
        if _patched:
            return
        _patched.append(True)
    original_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        run = context.workflow_body()
        if run is not None:
            self._durable_run = weakref.ref(run)  # type: ignore[attr-defined]
        original_start(self)

    start.__wrapped__ = original_start  # type: ignore[attr-defined]
    threading.Thread.start = start  # type: ignore[method-assign]


def run_of_this_thread() -> RunContext | None:
    """The still-executing run that started this thread without passing its context."""
    ref = getattr(threading.current_thread(), "_durable_run", None)
    run = ref() if ref is not None else None
    if run is None or run.finished:
        return None
    return run  # type: ignore[no-any-return]
