from __future__ import annotations

import os

from django.apps import AppConfig


class TestsConfig(AppConfig):
    """The test suite as an app, so it can hold test-only models."""

    name = "tests"
    label = "tests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        if os.environ.get("DURABLE_TEST_CHILD"):
            # A child of a process test: SIGUSR1 writes every thread's stack to stderr (the
            # test asks for it before it kills a child that did not exit in time).
            import faulthandler
            import signal

            faulthandler.register(signal.SIGUSR1, all_threads=True)
        path = os.environ.get("DURABLE_TEST_TRACE_FILE")
        if path:  # a child process of a tracing test: export each span as a JSON line
            from tests.tracing import export_spans_to

            export_spans_to(path)
        # Process tests make a loop of a ``runscheduler`` child die of an unexpected
        # error with DURABLE_TEST_BREAK_LOOP=scheduler (or =worker).
        broken = os.environ.get("DURABLE_TEST_BREAK_LOOP")
        if broken:
            break_loop(broken)


class InjectedFault(RuntimeError):
    """The unexpected error a process test makes a loop raise."""


def break_loop(which: str) -> None:
    """Make the next iteration of the scheduler's (or the worker's) loop raise
    ``InjectedFault``, after its first tick."""
    from django_durable.scheduler import Scheduler
    from django_durable.worker import Worker

    def fail(*args: object, **kwargs: object) -> float:
        raise InjectedFault(f"injected fault in the {which} loop")

    if which == "scheduler":
        Scheduler._seconds_to_next = fail  # type: ignore[method-assign]
    elif which == "worker":
        Worker._finished = fail  # type: ignore[method-assign,assignment]
    else:
        raise ValueError(f"DURABLE_TEST_BREAK_LOOP must be scheduler or worker, got {which!r}")
