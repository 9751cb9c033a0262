"""Metric collection: a schedule every 15 seconds that fans out onto a limited queue.

This is the demo's heartbeat: start ``scripts/demo.sh`` and a ``collect-metrics`` run
appears in the admin within 15 seconds, followed by one ``record_metric`` run per metric
type and one ``Metric`` row each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_durable as durable
from example_project.demo import services
from example_project.demo.models import Metric

METRIC_TYPES = ("operations", "business", "financial")

metrics_queue = durable.Queue("metrics", concurrency=2)
"""At most two ``record_metric`` runs execute at once, across every ``runscheduler``."""


@durable.step()
def read_metric(metric_type: str, at: datetime) -> float:
    """Read a sensor (I/O, so a step: a replay returns the recorded reading)."""
    return services.read_sensor(metric_type, at)


@durable.transaction()
def save_metric(metric_type: str, at: datetime, value: float) -> int:
    """Write the reading; the row and this step's checkpoint commit together, so a
    recovered run never writes it twice."""
    metric = Metric.objects.create(
        timestamp=at, metric_type=metric_type, value=value, workflow_id=durable.workflow_id()
    )
    return int(metric.pk)


@durable.workflow()
def record_metric(metric_type: str, at: datetime) -> float:
    """Read one metric and store it."""
    value = read_metric(metric_type, at)
    save_metric(metric_type, at, value)
    return value


@durable.scheduled("*/15 * * * * *", name="collect-metrics", context={"types": list(METRIC_TYPES)})
@durable.workflow()
def collect_metrics(scheduled_at: datetime, context: Any) -> list[str]:
    """Enqueue one ``record_metric`` run per metric type on the ``metrics`` queue.

    Each enqueue is a step of this run: the children's ids are ``<this run's id>-1``,
    ``-2``, ..., and a recovered run does not enqueue them again. It returns their ids
    without waiting for them (a worker of any process runs them).
    """
    durable.logger.info("Collecting %s for %s", ", ".join(context["types"]), scheduled_at)
    return [
        metrics_queue.enqueue(record_metric, metric_type, scheduled_at).workflow_id
        for metric_type in context["types"]
    ]
