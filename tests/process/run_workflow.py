"""A real worker process for the process-level tests: run or recover workflows, then exit.

Run from the repository root with the test database in ``DATABASE_URL``::

    python tests/process/run_workflow.py --executor-id EXEC run crash_workflow \
        --workflow-id WF --args '["label"]'
    python tests/process/run_workflow.py --executor-id EXEC recover DEAD [DEAD ...] \
        [--wait-for-go]

``DATABASE_URL`` is required (this script never falls back to the settings' default
database) and must name a database whose tables exist: nothing is migrated here.
``--executor-id`` becomes ``DURABLE["EXECUTOR_ID"]`` of this process.

Each step of the protocol is one JSON object per line on stdout, flushed at once:

- ``{"event": "ready"}``: set up and connected (``--wait-for-go`` then waits for a line
  on stdin before it does anything, so several processes can start together);
- ``{"event": "recovered", "workflow_ids": [...]}``: what ``recover_pending_workflows``
  took over (printed before waiting for the results);
- ``{"event": "result", "workflow_id": ..., "result": ...}`` per finished run, or
  ``{"event": "error", "workflow_id": ..., "type": ..., "message": ...}``.

The exit status is 0 when every run succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=repr), flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor-id", required=True, help="DURABLE['EXECUTOR_ID'] here")
    parser.add_argument(
        "--wait-for-go", action="store_true", help="print ready, then wait for a stdin line"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait per run")
    modes = parser.add_subparsers(dest="mode", required=True)

    run = modes.add_parser("run", help="call a workflow of tests.workflows by name")
    run.add_argument(
        "workflow", help="attribute name in tests.workflows or tests.messaging_workflows"
    )
    run.add_argument("--workflow-id", required=True)
    run.add_argument("--args", default="[]", help="JSON list of positional arguments")
    run.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments")

    recover = modes.add_parser("recover", help="recover_pending_workflows(DEAD...) and wait")
    recover.add_argument("dead", nargs="+", help="executor ids whose PENDING runs to take over")
    return parser.parse_args(argv)


def setup_django(executor_id: str) -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("run_workflow.py: DATABASE_URL must name the test database")
    sys.path[0] = str(ROOT)  # the script's own directory would be first otherwise
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

    import django
    from django.conf import settings

    # Before setup, and before django_durable.conf caches its settings.
    settings.DURABLE = {**settings.DURABLE, "EXECUTOR_ID": executor_id}
    django.setup()

    from django.db import connection

    connection.ensure_connection()


def report(workflow_id: str, wait: Any) -> bool:
    try:
        result = wait()
    except Exception as exc:
        emit(
            "error",
            workflow_id=workflow_id,
            type=f"{type(exc).__module__}.{type(exc).__qualname__}",
            message=str(exc),
        )
        traceback.print_exc()
        return False
    emit("result", workflow_id=workflow_id, result=result)
    return True


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    setup_django(options.executor_id)

    import django_durable as durable
    from tests import messaging_workflows, workflows

    emit("ready", executor_id=options.executor_id, pid=os.getpid())
    if options.wait_for_go:
        sys.stdin.readline()

    if options.mode == "run":
        fn = getattr(workflows, options.workflow, None) or getattr(
            messaging_workflows, options.workflow
        )
        args, kwargs = json.loads(options.args), json.loads(options.kwargs)

        def call() -> Any:
            with durable.SetWorkflowID(options.workflow_id):
                if inspect.iscoroutinefunction(fn):
                    return asyncio.run(fn(*args, **kwargs))
                return fn(*args, **kwargs)

        return 0 if report(options.workflow_id, call) else 1

    handles = durable.recover_pending_workflows(options.dead)
    emit("recovered", workflow_ids=[h.workflow_id for h in handles])
    ok = True
    for handle in handles:
        ok = report(handle.workflow_id, lambda h=handle: h.get_result(options.timeout)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
