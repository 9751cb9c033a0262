"""Traces of runs and steps with OpenTelemetry (DURABLE["TRACING"]), read from the SDK's
in-memory exporter."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

import django_durable as durable
from django_durable.models import WorkflowRun
from django_durable.testing import run_until_idle
from tests import workflows

pytestmark = pytest.mark.django_db(transaction=True)

TRACING = {"TRACING": True}


@pytest.fixture
def spans() -> Any:
    from tests.tracing import as_dict, memory_exporter

    exporter = memory_exporter()
    exporter.clear()
    return lambda: [as_dict(span) for span in exporter.get_finished_spans()]


def tracer() -> Any:
    from opentelemetry import trace

    return trace.get_tracer("tests")


def by_name(found: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for span in found:
        grouped.setdefault(span["name"], []).append(span)
    return grouped


@override_settings(DURABLE=TRACING)
def test_a_direct_call_is_a_run_span_under_the_callers_span_with_a_span_per_step(spans):
    with tracer().start_as_current_span("request") as request:
        with durable.SetWorkflowID("traced-1"):
            assert workflows.three_steps(1) == "value=4"
    found = by_name(spans())
    [run] = found["durable.run three_steps"]
    assert run["trace_id"] == format(request.get_span_context().trace_id, "032x")
    assert run["parent_id"] == format(request.get_span_context().span_id, "016x")
    assert run["attributes"]["durable.workflow_id"] == "traced-1"
    assert run["attributes"]["durable.status"] == "SUCCESS"
    names = ["durable.step add_one", "durable.step double", "durable.step to_text"]
    steps = [found[name][0] for name in names]
    assert [s["attributes"]["durable.step_number"] for s in steps] == [1, 2, 3]
    assert {s["parent_id"] for s in steps} == {run["span_id"]}
    assert {s["attributes"]["durable.status"] for s in steps} == {"SUCCESS"}


@override_settings(DURABLE=TRACING)
def test_an_enqueued_run_continues_the_trace_of_the_code_that_enqueued_it(spans):
    with tracer().start_as_current_span("request") as request:
        handle = workflows.QUEUE_PLAIN.enqueue(workflows.three_steps, 1)
    stored = json.loads(str(WorkflowRun.objects.get(pk=handle.workflow_id).trace_context))
    assert "traceparent" in stored
    run_until_idle(queues=["queues-plain"])  # executed on a worker thread, later
    [run] = by_name(spans())["durable.run three_steps"]
    assert run["trace_id"] == format(request.get_span_context().trace_id, "032x")
    assert run["parent_id"] == format(request.get_span_context().span_id, "016x")
    assert run["attributes"]["durable.queue_name"] == "queues-plain"


@override_settings(DURABLE=TRACING)
def test_a_failing_step_and_its_attempts_are_on_its_span(spans, monkeypatch):
    from django_durable.engine import steps

    monkeypatch.setattr(steps, "pause_before_retry", lambda run, seconds: None)
    with durable.SetWorkflowID("traced-retry"):
        workflows.flaky_workflow(2)
    with durable.SetWorkflowID("traced-fail"), pytest.raises(workflows.PaymentDeclined):
        workflows.failing_workflow(5)
    found = by_name(spans())
    assert found["durable.step flaky"][0]["attributes"]["durable.attempts"] == 2
    [declined] = found["durable.step decline"]
    assert declined["status"] == "ERROR" and declined["attributes"]["durable.status"] == "ERROR"
    [failed_run] = found["durable.run failing_workflow"]
    assert failed_run["status"] == "ERROR"


def test_without_the_setting_nothing_is_traced_or_stored(spans):
    with tracer().start_as_current_span("request"):
        with durable.SetWorkflowID("untraced"):
            workflows.three_steps(1)
    assert [span["name"] for span in spans()] == ["request"]
    assert WorkflowRun.objects.get(pk="untraced").trace_context is None


def test_tracing_without_opentelemetry_installed_is_a_system_check_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with override_settings(DURABLE=TRACING):
        errors = [m for m in checks.run_checks() if m.id == "django_durable.E007"]
    assert len(errors) == 1 and "otel" in errors[0].msg
