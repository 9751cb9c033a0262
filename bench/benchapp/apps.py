from __future__ import annotations

import os

from django.apps import AppConfig


class BenchAppConfig(AppConfig):
    name = "bench.benchapp"
    label = "durable_bench"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        directory = os.environ.get("DURABLE_BENCH_PROFILE")
        if directory:  # a worker of ``queue_throughput.py --profile``
            from bench.benchapp.profiling import install

            install(directory)
        trace = os.environ.get("DURABLE_BENCH_TRACE")
        if trace:  # a worker of ``profile_hot_paths.py``: libpq traces of its connections
            from bench.benchapp import tracing

            tracing.install(trace)
