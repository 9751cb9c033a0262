from __future__ import annotations

import os

from django.apps import AppConfig


class TestsConfig(AppConfig):
    """The test suite as an app, so it can hold test-only models."""

    name = "tests"
    label = "tests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        path = os.environ.get("DURABLE_TEST_TRACE_FILE")
        if path:  # a child process of a tracing test: export each span as a JSON line
            from tests.tracing import export_spans_to

            export_spans_to(path)
