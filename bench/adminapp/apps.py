from __future__ import annotations

from django.apps import AppConfig


class AdminBenchConfig(AppConfig):
    name = "bench.adminapp"
    label = "durable_admin_bench"
    default_auto_field = "django.db.models.BigAutoField"
