from __future__ import annotations

import os

from django.apps import AppConfig


class SchedBenchConfig(AppConfig):
    name = "bench.schedapp"
    label = "durable_sched_bench"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        directory = os.environ.get("DURABLE_BENCH_MARKS")
        if directory:  # the scheduler process of ``scheduler_scale.py``
            from bench.schedapp.instrument import install

            install(directory, profile=bool(os.environ.get("DURABLE_BENCH_PROFILE")))
