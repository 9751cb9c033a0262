from __future__ import annotations

from django.apps import AppConfig


class TestsConfig(AppConfig):
    """The test suite as an app, so it can hold test-only models."""

    name = "tests"
    label = "tests"
    default_auto_field = "django.db.models.BigAutoField"
