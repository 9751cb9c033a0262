"""DBOS Transact, "Scheduling": the complete example (a report system whose transaction
queries a ``metrics`` table through ``DBOS.sql_session`` with SQLAlchemy's ``text()``),
verbatim but for the import. Its helpers are the other module's."""

# mypy: ignore-errors
# ruff: noqa

from tests.dbos_seeds.scheduler_doc import email_service, format_report

from django_durable.dbos import DBOS
from datetime import datetime, timedelta
from typing import Any
import sqlalchemy as sa


@DBOS.transaction()
def get_metrics(start_time: datetime, end_time: datetime, metric_type: str) -> list[dict]:
    """Query metrics from database."""
    result = DBOS.sql_session.execute(
        sa.text(
            "SELECT timestamp, value FROM metrics "
            "WHERE timestamp >= :start AND timestamp < :end "
            "AND metric_type = :type ORDER BY timestamp"
        ),
        {"start": start_time, "end": end_time, "type": metric_type},
    )
    return [{"timestamp": row[0], "value": row[1]} for row in result]


@DBOS.step()
def generate_report(metrics: list[dict], report_type: str) -> dict:
    """Generate report from metrics."""
    if not metrics:
        return {"error": "No data available"}
    total = sum(m["value"] for m in metrics)
    avg = total / len(metrics)
    return {
        "report_type": report_type,
        "count": len(metrics),
        "total": total,
        "average": avg,
        "metrics": metrics,
    }


@DBOS.step()
def send_report(report: dict, recipients: list[str]) -> None:
    """Send report to recipients."""
    for recipient in recipients:
        email_service.send(
            to=recipient,
            subject=f"{report['report_type']} Report",
            body=format_report(report),
        )


@DBOS.workflow()
def report_workflow(scheduled_at: datetime, context: Any) -> dict:
    """Generate and send scheduled report."""
    report_type = context["report_type"]
    metric_type = context["metric_type"]
    recipients = context["recipients"]
    lookback_hours = context.get("lookback_hours", 24)
    DBOS.logger.info(f"Generating {report_type} report for {scheduled_at}")
    # Calculate time range
    end_time = scheduled_at
    start_time = end_time - timedelta(hours=lookback_hours)
    # Get metrics
    metrics = get_metrics(start_time, end_time, metric_type)
    # Generate report
    report = generate_report(metrics, report_type)
    # Send to recipients
    send_report(report, recipients)
    DBOS.logger.info(f"{report_type} report sent successfully")
    return report


# Initialize schedules on application startup
def setup_schedules():
    """Set up all report schedules."""
    DBOS.apply_schedules(
        [
            # Hourly operational metrics
            {
                "schedule_name": "hourly-ops-report",
                "workflow_fn": report_workflow,
                "schedule": "0 0 * * * *",  # Every hour
                "context": {
                    "report_type": "Hourly Operations",
                    "metric_type": "operations",
                    "recipients": ["ops-team@example.com"],
                    "lookback_hours": 1,
                },
            },
            # Daily summary
            {
                "schedule_name": "daily-summary",
                "workflow_fn": report_workflow,
                "schedule": "0 0 6 * * *",  # 6 AM daily
                "context": {
                    "report_type": "Daily Summary",
                    "metric_type": "all",
                    "recipients": ["team@example.com", "manager@example.com"],
                    "lookback_hours": 24,
                },
            },
            # Weekly executive report
            {
                "schedule_name": "weekly-executive",
                "workflow_fn": report_workflow,
                "schedule": "0 0 9 * * 1",  # Monday 9 AM
                "context": {
                    "report_type": "Weekly Executive Summary",
                    "metric_type": "business",
                    "recipients": ["executives@example.com"],
                    "lookback_hours": 168,  # 7 days
                },
            },
            # Monthly financial report
            {
                "schedule_name": "monthly-financial",
                "workflow_fn": report_workflow,
                "schedule": "0 0 8 1 * *",  # 1st of month, 8 AM
                "context": {
                    "report_type": "Monthly Financial",
                    "metric_type": "financial",
                    "recipients": ["finance@example.com", "cfo@example.com"],
                    "lookback_hours": 720,  # 30 days
                },
            },
        ]
    )
    print("All report schedules configured")


# List active schedules
def list_active_schedules():
    """Display all active report schedules."""
    schedules = DBOS.list_schedules(status="ACTIVE")
    for schedule in schedules:
        print(f"\nSchedule: {schedule['schedule_name']}")
        print(f"  Cron: {schedule['schedule']}")
        print(f"  Type: {schedule['context']['report_type']}")
        print(f"  Recipients: {', '.join(schedule['context']['recipients'])}")


# Manually trigger a report
def trigger_report_now(schedule_name: str):
    """Manually trigger a scheduled report."""
    handle = DBOS.trigger_schedule(schedule_name)
    print(f"Triggered {schedule_name}: {handle.get_workflow_id()}")
    return handle
