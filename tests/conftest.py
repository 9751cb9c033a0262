"""Shared pytest fixtures for the django_durable test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_durable import registry
from tests import workflows


@pytest.fixture(autouse=True)
def _reset_counters() -> Iterator[None]:
    workflows.CALLS.clear()
    workflows.ATTEMPTS.clear()
    workflows.GATE.clear()
    yield
    workflows.GATE.set()  # never leave a background run waiting


@pytest.fixture(scope="session", autouse=True)
def _stop_heartbeat_before_teardown(django_db_setup: None) -> Iterator[None]:
    """The heartbeat thread must be gone before the test database is dropped."""
    yield
    from django_durable.engine import runtime

    runtime.shutdown_default()


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Snapshot the registries (workflows, classes and their instances, queues, code-defined
    schedules) and put them back afterwards: for tests that declare or register their own."""
    with registry._lock:
        workflows_ = dict(registry._workflows)
        classes = dict(registry._classes)
        instances = {name: dict(info.instances) for name, info in classes.items()}
        queues = dict(registry._queues)
        code_schedules = dict(registry._code_schedules)
    yield
    with registry._lock:
        registry._workflows.clear()
        registry._workflows.update(workflows_)
        registry._classes.clear()
        registry._classes.update(classes)
        for name, saved in instances.items():
            classes[name].instances.clear()
            classes[name].instances.update(saved)
        registry._queues.clear()
        registry._queues.update(queues)
        registry._code_schedules.clear()
        registry._code_schedules.update(code_schedules)
