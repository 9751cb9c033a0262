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
