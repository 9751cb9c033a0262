"""Reports over the ``Metric`` rows: a code-defined daily report and the multi-schedule
report system, whose four schedules are created at runtime by ``setup_demo``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Sum

import django_durable as durable
from example_project.demo import services
from example_project.demo.models import Metric

ALL_METRICS = "all"
"""The ``metric_type`` of a report over every type."""


# ---------------------------------------------------------------- the daily report


@durable.transaction()
def calculate_metrics(start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Count and average of each metric type in ``[start, end)``, per type."""
    rows = (
        Metric.objects.filter(timestamp__gte=start, timestamp__lt=end)
        .values("metric_type")
        .annotate(count=Count("pk"), average=Avg("value"))
        .order_by("metric_type")
    )
    return {
        row["metric_type"]: {"count": row["count"], "average": round(row["average"], 2)}
        for row in rows
    }


@durable.step()
def generate_daily_report(date: datetime, metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Shape the report."""
    return {"date": date.isoformat(), "metrics": metrics}


@durable.step()
def send_report_email(report: dict[str, Any]) -> str:
    """Send it; the message id is recorded, so a recovered run does not send it again."""
    return services.send_email("reports@example.com", "Daily Report", format_report(report))


@durable.scheduled("0 0 0 * * *", name="daily-report")  # every day at midnight UTC
@durable.workflow()
def daily_report_workflow(scheduled_at: datetime, context: Any) -> dict[str, Any]:
    """Generate and send the daily report of the 24 hours before ``scheduled_at``."""
    durable.logger.info("Generating report for %s", scheduled_at)
    metrics = calculate_metrics(scheduled_at - timedelta(days=1), scheduled_at)
    report = generate_daily_report(scheduled_at, metrics)
    send_report_email(report)
    return report


# ---------------------------------------------------------------- the report system


@durable.transaction()
def get_metrics(start_time: datetime, end_time: datetime, metric_type: str) -> dict[str, Any]:
    """Summarise the metrics of ``metric_type`` (or every type) in ``[start_time, end_time)``.

    The database aggregates, so the checkpoint of this step stays a few numbers however
    many rows the period holds.
    """
    rows = Metric.objects.filter(timestamp__gte=start_time, timestamp__lt=end_time)
    if metric_type != ALL_METRICS:
        rows = rows.filter(metric_type=metric_type)
    summary = rows.aggregate(count=Count("pk"), total=Sum("value"))
    return {"count": summary["count"], "total": summary["total"] or 0.0}


@durable.step()
def generate_report(metrics: dict[str, Any], report_type: str) -> dict[str, Any]:
    """The report of a summary; an ``error`` entry when the period has no data."""
    if not metrics["count"]:
        return {"report_type": report_type, "error": "No data available"}
    return {
        "report_type": report_type,
        "count": metrics["count"],
        "total": round(metrics["total"], 2),
        "average": round(metrics["total"] / metrics["count"], 2),
    }


@durable.step()
def send_report(report: dict[str, Any], recipients: list[str]) -> list[str]:
    """Email the report to each recipient; the message ids."""
    return [
        services.send_email(recipient, f"{report['report_type']} Report", format_report(report))
        for recipient in recipients
    ]


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text lines (deterministic: a plain function is enough)."""
    return "\n".join(f"{key}: {value}" for key, value in sorted(report.items()))


@durable.workflow()
def report_workflow(scheduled_at: datetime, context: Any) -> dict[str, Any]:
    """Generate and send the report that the schedule's context describes."""
    report_type = context["report_type"]
    metric_type = context["metric_type"]
    recipients = context["recipients"]
    lookback_hours = context.get("lookback_hours", 24)
    durable.logger.info("Generating %s report for %s", report_type, scheduled_at)

    end_time = scheduled_at
    start_time = end_time - timedelta(hours=lookback_hours)
    metrics = get_metrics(start_time, end_time, metric_type)
    report = generate_report(metrics, report_type)
    send_report(report, recipients)
    durable.logger.info("%s report sent", report_type)
    return report
