from __future__ import annotations

from django.apps import AppConfig


class SchedBenchConfig(AppConfig):
    name = "bench.schedapp"
    label = "durable_sched_bench"
    default_auto_field = "django.db.models.BigAutoField"
