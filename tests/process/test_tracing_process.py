"""A trace continued across processes: a run enqueued inside a span of this process is
executed by a real ``runscheduler`` whose spans join the same trace."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from django_durable.models import RunStatus, WorkflowRun
from tests import workflows
from tests.process.children import wait_until

pytestmark = [pytest.mark.process, pytest.mark.django_db(transaction=True)]


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_worker_process_continues_the_trace_of_the_enqueuer(spawn_worker, executor_id, tmp_path):
    from opentelemetry import trace

    from tests.tracing import memory_exporter

    memory_exporter()
    with override_settings(DURABLE={"TRACING": True}):
        with trace.get_tracer("tests").start_as_current_span("request") as request:
            handle = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
    trace_file = tmp_path / "spans.jsonl"
    worker = spawn_worker(
        "--queues",
        "queues-plain",
        "--no-scheduler",
        executor_id=executor_id("traced"),
        env={"DURABLE_TEST_TRACE_FILE": str(trace_file), "DURABLE_TEST_POLL_INTERVAL": "0.05"},
    )
    wait_until(
        lambda: WorkflowRun.objects.get(pk=handle.workflow_id).status == RunStatus.SUCCESS,
        "the traced run",
        diagnostics=worker.describe,
    )
    spans = wait_until(
        lambda: len(read_spans(trace_file)) >= 4 and read_spans(trace_file),
        "the worker's spans",
        diagnostics=worker.describe,
    )
    worker.signal(signal.SIGTERM)
    assert worker.finish() == 0, worker.describe()

    [run] = [s for s in spans if s["name"] == "durable.run three_steps"]
    context = request.get_span_context()
    assert run["trace_id"] == format(context.trace_id, "032x"), spans
    assert run["parent_id"] == format(context.span_id, "016x"), spans
    steps = [s for s in spans if s["name"].startswith("durable.step ")]
    assert len(steps) == 3 and {s["parent_id"] for s in steps} == {run["span_id"]}, spans
    assert {s["trace_id"] for s in steps} == {run["trace_id"]}
