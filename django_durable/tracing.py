"""OpenTelemetry traces of runs and steps (the optional ``[otel]`` extra).

With ``DURABLE["TRACING"] = True`` (and ``opentelemetry-api`` installed) every execution
of a run is a span (``durable.run <workflow>``) and every step that executes (not a
replayed one) a child span (``durable.step <step>``), with ids, names, status and attempt
as attributes. The trace context of the code that starts or enqueues a run (a Django
request, say) is stored on the run, and the process that executes it continues that trace,
so a request and the runs it caused read as one trace, whichever worker ran them.

Nothing here is imported, and nothing is traced, unless the setting is on. Configure the
SDK (a tracer provider and an exporter) the way the OpenTelemetry documentation says; this
module only uses the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django_durable import conf
from django_durable.exceptions import ConfigurationError

TRACER_NAME = "django_durable"


def enabled() -> bool:
    return bool(conf.get("TRACING"))


def _api() -> Any:
    try:
        from opentelemetry import propagate, trace
    except ImportError as exc:
        raise ConfigurationError(
            "DURABLE['TRACING'] is on but opentelemetry-api is not installed: "
            "pip install 'django-durable-workflows[otel]'."
        ) from exc
    return trace, propagate


def carrier() -> str | None:
    """The current trace context as JSON (W3C ``traceparent``/``tracestate``), to store on
    a new run; ``None`` when tracing is off or no trace is active."""
    if not enabled():
        return None
    _, propagate = _api()
    fields: dict[str, str] = {}
    propagate.inject(fields)
    return json.dumps(fields, sort_keys=True) if fields else None


def _parent(stored: str | None) -> Any:
    _, propagate = _api()
    try:
        fields = json.loads(stored) if stored else {}
    except ValueError:
        fields = {}
    if not isinstance(fields, dict) or not fields:
        return None  # the current context (a direct call continues its caller's trace)
    return propagate.extract({str(k): str(v) for k, v in fields.items()})


@contextmanager
def run_span(
    *,
    workflow_id: str,
    name: str,
    trace_context: str | None,
    executor_id: str,
    queue_name: str | None,
    recovery_attempts: int,
) -> Iterator[Any]:
    """A span around one execution of a run (nothing when tracing is off). The caller sets
    ``durable.status`` on the span it gets (``None`` when off) once the outcome is known."""
    if not enabled():
        yield None
        return
    trace, _ = _api()
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(
        f"durable.run {name}",
        context=_parent(trace_context),
        kind=trace.SpanKind.CONSUMER if queue_name else trace.SpanKind.INTERNAL,
        attributes={
            "durable.workflow_id": workflow_id,
            "durable.workflow_name": name,
            "durable.executor_id": executor_id,
            "durable.queue_name": queue_name or "",
            "durable.recovery_attempt": recovery_attempts,
        },
    ) as span:
        yield span


@contextmanager
def step_span(*, workflow_id: str, number: int, name: str) -> Iterator[Any]:
    """A span around one step's execution (its retries included)."""
    if not enabled():
        yield None
        return
    trace, _ = _api()
    with trace.get_tracer(TRACER_NAME).start_as_current_span(
        f"durable.step {name}",
        attributes={
            "durable.workflow_id": workflow_id,
            "durable.step_number": number,
            "durable.step_name": name,
        },
    ) as span:
        yield span


def set_status(span: Any, status: str, error: BaseException | None = None) -> None:
    """Record the outcome on a span from ``run_span``/``step_span`` (``None``: off)."""
    if span is None:
        return
    trace, _ = _api()
    span.set_attribute("durable.status", status)
    if error is not None:
        span.record_exception(error)
        span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}"))


def set_attempts(span: Any, attempts: int) -> None:
    if span is not None:
        span.set_attribute("durable.attempts", attempts)


def check() -> str | None:
    """Why tracing cannot work as configured (for the system check), or ``None``."""
    if not enabled():
        return None
    try:
        _api()
    except ConfigurationError as exc:
        return str(exc)
    return None
