"""Direct workflow calls from a process on its own, as ``manage.py shell`` or a threaded
``runserver`` makes them, for ``test_sqlite_defaults.py``.

    DURABLE_TEST_SQLITE_PATH=... python tests/process/direct_calls.py --enqueue 200 \
        --calls 200 --threads 4

It enqueues ``--enqueue`` runs of ``three_steps`` on ``queues-plain``, prints
``{"event": "ready"}``, waits for a line on stdin, then makes ``--calls`` direct calls of
``three_steps`` from ``--threads`` threads and prints ``{"event": "done", "errors": [...],
"results": N}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=repr), flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enqueue", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    options = parser.parse_args(argv)

    sys.path[0] = str(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.process.sqlite_defaults_settings"
    import django

    django.setup()
    from django.db import connections

    from tests import workflows

    for i in range(options.enqueue):
        workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, i)
    emit("ready", pid=os.getpid())
    sys.stdin.readline()

    errors: list[str] = []
    results: list[Any] = []
    lock = threading.Lock()

    def calls(offset: int) -> None:
        try:
            for i in range(offset, options.calls, options.threads):
                try:
                    value = workflows.three_steps(i)
                except BaseException as exc:  # ExecutionInterrupted included
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    with lock:
                        results.append(value)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=calls, args=(n,)) for n in range(options.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    emit("done", errors=errors[:20], error_count=len(errors), results=len(results))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
