"""The metrics: counters fed by signals, gauges read from the database at scrape time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.db import DatabaseError, close_old_connections
from django.dispatch import Signal
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from django_durable import monitoring, signals
from django_durable.models import WorkflowRun, WorkflowSchedule

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
"""Every metric of django_durable (a registry of its own: nothing else, no duplicates)."""

RUNS_ENQUEUED = Counter(
    "durable_runs_enqueued",
    "Runs written as ENQUEUED by this process (enqueue, fire, trigger, backfill, resume, fork).",
    ["workflow", "queue"],
    registry=REGISTRY,
)
RUNS_STARTED = Counter(
    "durable_runs_started",
    "Run bodies this process began executing (again after a recovery or a resume).",
    ["workflow", "queue"],
    registry=REGISTRY,
)
RUNS_FINISHED = Counter(
    "durable_runs_finished",
    "Runs that reached a final status in this process.",
    ["workflow", "queue", "status"],
    registry=REGISTRY,
)
STEP_DURATION = Histogram(
    "durable_step_duration_seconds",
    "Seconds from a step's start to its checkpoint, by workflow, step and outcome.",
    ["workflow", "step", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
SCHEDULE_FIRES = Counter(
    "durable_schedule_slots_fired",
    "Schedule slots this process's scheduler enqueued, by workflow.",
    ["workflow"],
    registry=REGISTRY,
)
SCHEDULE_LAG = Histogram(
    "durable_schedule_fire_lag_seconds",
    "Seconds from a slot's time to the commit of its run, by workflow.",
    ["workflow"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
SCHEDULE_MISSES = Counter(
    "durable_schedule_misses",
    "Fires of this process's scheduler that left due slots out (missed or over the cap).",
    ["workflow"],
    registry=REGISTRY,
)
SCHEDULE_SKIPS = Counter(
    "durable_schedule_skips",
    "Due schedules this process's scheduler could not fire and skipped until its review.",
    ["workflow"],
    registry=REGISTRY,
)


def _queue(name: Any) -> str:
    return str(name) if name else ""


def _on_enqueued(sender: Any, *, workflow_name: str, queue_name: Any = None, **_: Any) -> None:
    RUNS_ENQUEUED.labels(workflow_name, _queue(queue_name)).inc()


def _on_started(sender: Any, *, workflow_name: str, queue_name: Any = None, **_: Any) -> None:
    RUNS_STARTED.labels(workflow_name, _queue(queue_name)).inc()


def _on_finished(
    sender: Any, *, workflow_name: str, status: str, queue_name: Any = None, **_: Any
) -> None:
    RUNS_FINISHED.labels(workflow_name, _queue(queue_name), str(status)).inc()


def _on_step(
    sender: Any,
    *,
    workflow_name: str,
    step_name: str,
    failed: bool,
    duration: float | None = None,
    **_: Any,
) -> None:
    if duration is not None:
        STEP_DURATION.labels(
            workflow_name, step_name, "failed" if failed else "succeeded"
        ).observe(max(duration, 0.0))


def _on_fired(
    sender: Any, *, slots: list[datetime], workflow_name: str | None = None, **_: Any
) -> None:
    label = workflow_name or ""
    now = timezone.now()
    SCHEDULE_FIRES.labels(label).inc(len(slots))
    for slot in slots:
        SCHEDULE_LAG.labels(label).observe(max((now - slot).total_seconds(), 0.0))


def _on_missed(sender: Any, *, workflow_name: str, **_: Any) -> None:
    SCHEDULE_MISSES.labels(workflow_name).inc()


def _on_skipped(sender: Any, *, workflow_name: str, **_: Any) -> None:
    SCHEDULE_SKIPS.labels(workflow_name).inc()


_RECEIVERS: list[tuple[Signal, Callable[..., None], type[Any]]] = [
    (signals.workflow_enqueued, _on_enqueued, WorkflowRun),
    (signals.workflow_started, _on_started, WorkflowRun),
    (signals.workflow_finished, _on_finished, WorkflowRun),
    (signals.step_completed, _on_step, WorkflowRun),
    (signals.schedule_fired, _on_fired, WorkflowSchedule),
    (signals.schedule_missed, _on_missed, WorkflowSchedule),
    (signals.schedule_skipped, _on_skipped, WorkflowSchedule),
]


class DatabaseCollector(Collector):
    """Gauges read at scrape time: queue depth and oldest age, running runs, executors
    alive, late schedules, and whether the database answered."""

    def __init__(self, *, close_connections: bool = False) -> None:
        self.close_connections = close_connections

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "durable_database_up", "Whether the last scrape could read the database."
        )
        depth = GaugeMetricFamily(
            "durable_queue_depth",
            "ENQUEUED runs of each queue, deferred ones included.",
            labels=["queue"],
        )
        running = GaugeMetricFamily(
            "durable_queue_running", "PENDING (executing) runs of each queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "durable_queue_oldest_age_seconds",
            "Seconds the longest-waiting due run of each queue has waited (0 if none).",
            labels=["queue"],
        )
        alive = GaugeMetricFamily(
            "durable_executors_alive", "Executors whose heartbeat is within the timeout."
        )
        dead = GaugeMetricFamily(
            "durable_executors_dead", "Executors whose heartbeat is older than the timeout."
        )
        late = GaugeMetricFamily(
            "durable_schedules_late",
            f"Active schedules whose next fire time is over {monitoring.LATE_AFTER:g} s past "
            "(at most 1001 counted).",
        )
        now = timezone.now()
        try:
            for queue in monitoring.queue_stats():
                depth.add_metric([queue.name], queue.waiting)
                running.add_metric([queue.name], queue.running)
                age = (now - queue.oldest_due).total_seconds() if queue.oldest_due else 0.0
                oldest.add_metric([queue.name], max(age, 0.0))
            found = monitoring.executors(now)
            alive.add_metric([], sum(1 for e in found if e.alive))
            dead.add_metric([], sum(1 for e in found if not e.alive))
            late.add_metric([], len(monitoring.late_schedules(now)))
        except DatabaseError as exc:
            logger.warning(
                "Metrics: the database did not answer (%s)",
                exc,
                extra={"action": "metrics_database_unavailable"},
            )
            up.add_metric([], 0)
            yield up
            return
        finally:
            if self.close_connections:
                close_old_connections()
        up.add_metric([], 1)
        yield from (up, depth, running, oldest, alive, dead, late)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # described at scrape time only: no query at registration


_state: dict[str, DatabaseCollector] = {}


def install(*, close_connections: bool = False) -> DatabaseCollector:
    """Connect the counters to the signals and register the database gauges (once)."""
    for signal, receiver, sender in _RECEIVERS:
        signal.connect(
            receiver, sender=sender, dispatch_uid=f"django_durable.metrics.{receiver.__name__}"
        )
    collector = _state.get("collector")
    if collector is None:
        collector = DatabaseCollector(close_connections=close_connections)
        REGISTRY.register(collector)
        _state["collector"] = collector
    collector.close_connections = collector.close_connections or close_connections
    return collector
