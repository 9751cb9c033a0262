"""cProfile for a ``runscheduler`` worker (``DURABLE_BENCH_PROFILE=<directory>``).

cProfile sees one thread, so each pool thread gets its own profile, enabled only while it
executes a run, and the claim loop (the main thread) gets one more. The profiles count
each thread's CPU time (``time.thread_time``), not wall time: waiting for the database or
for the GIL does not show. When ``Worker.run``
returns, ``runs-<pid>.prof`` (all pool threads merged) and ``loop-<pid>.prof`` are written.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time
from typing import Any

from django_durable.worker import Worker


def install(directory: str) -> None:
    run_sync, run = Worker._run_sync, Worker.run
    local = threading.local()
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def profiled_run_sync(self: Worker, workflow_id: str, name: str, row: Any = None) -> None:
        profile = getattr(local, "profile", None)
        if profile is None:
            profile = local.profile = cProfile.Profile(time.thread_time)
            with lock:
                profiles.append(profile)
        profile.enable()
        try:
            run_sync(self, workflow_id, name, row)
        finally:
            profile.disable()

    def profiled_run(self: Worker) -> Any:
        loop = cProfile.Profile(time.thread_time)
        loop.enable()
        try:
            return run(self)
        finally:
            loop.disable()
            pid = os.getpid()
            loop.dump_stats(os.path.join(directory, f"loop-{pid}.prof"))
            if profiles:
                stats = pstats.Stats(*profiles)
                stats.dump_stats(os.path.join(directory, f"runs-{pid}.prof"))

    Worker._run_sync = profiled_run_sync  # type: ignore[method-assign]
    Worker.run = profiled_run  # type: ignore[method-assign]
