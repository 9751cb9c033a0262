from __future__ import annotations

from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The example project's own app: its workflows and schedules."""

    name = "example_project.demo"
    label = "demo"
    default_auto_field = "django.db.models.BigAutoField"
