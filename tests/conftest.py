"""Shared pytest fixtures for the django_durable test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
    from django_durable.engine.heartbeat import HEARTBEAT

    HEARTBEAT.stop()
