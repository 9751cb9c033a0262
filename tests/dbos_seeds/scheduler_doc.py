"""DBOS Transact, "Scheduling": the examples that define workflows, verbatim but for the
import. The page leaves some helpers to the reader (``email_service``, ``create_backup``,
...); they are defined first, recording what they are asked to do in ``SENT``."""

# mypy: ignore-errors
# ruff: noqa

from typing import Any

SENT: list[Any] = []


class _EmailService:
    def send(self, *args: Any, **kwargs: Any) -> None:
        SENT.append(("email", args, kwargs))


email_service = _EmailService()


def calculate_metrics(date: Any) -> dict:
    return {"count": 1}


def create_backup(*args: Any) -> str:
    SENT.append(("backup", args))
    return f"backup-{len(SENT)}"


def cleanup_old_backups(env: str, retention_days: int) -> None:
    SENT.append(("cleanup-backups", env, retention_days))


def send_email(*args: Any) -> None:
    SENT.append(("send_email", args))


def sync_data(source: str) -> None:
    SENT.append(("sync", source))


def cleanup_old_data(retention_days: int) -> None:
    SENT.append(("cleanup", retention_days))


def send_notification(user_id: str, message: str) -> None:
    SENT.append(("notify", user_id, message))


def process_hourly_data(scheduled_at: Any) -> None:
    SENT.append(("hourly", scheduled_at))


def format_report(report: dict) -> str:
    return str(report)


# ---------------------------------------------------------------- the page's examples

from django_durable.dbos import DBOS
from datetime import datetime
from typing import Any


@DBOS.scheduled("0 0 * * *")  # Every day at midnight
@DBOS.workflow()
def daily_report_workflow(scheduled_at: datetime, context: Any) -> None:
    """Generate and send daily reports."""
    DBOS.logger.info(f"Generating report for {scheduled_at}")
    # Generate report
    report = generate_daily_report(scheduled_at)
    # Send to recipients
    send_report_email(report)


@DBOS.step()
def generate_daily_report(date: datetime) -> dict:
    """Generate report data."""
    return {"date": date.isoformat(), "metrics": calculate_metrics(date)}


@DBOS.step()
def send_report_email(report: dict) -> None:
    """Send report via email."""
    email_service.send("reports@example.com", "Daily Report", report)


from django_durable.dbos import DBOS
from datetime import datetime
from typing import Any


@DBOS.workflow()
def backup_database(scheduled_at: datetime, context: Any) -> None:
    """Perform database backup."""
    backup_name = context["backup_name"]
    DBOS.logger.info(f"Starting backup: {backup_name}")
    # Perform backup
    create_backup(backup_name, scheduled_at)


@DBOS.workflow()
def hourly_sync(scheduled_at: datetime, context: Any) -> None:
    sync_data(context["source"])


@DBOS.workflow()
def daily_cleanup(scheduled_at: datetime, context: Any) -> None:
    cleanup_old_data(context["retention_days"])


@DBOS.workflow()
def delayed_notification_workflow(user_id: str, message: str) -> None:
    """Send notification after a delay."""
    # Send immediate confirmation
    send_notification(user_id, "Processing your request...")
    # Durable sleep for 1 hour (survives restarts)
    DBOS.sleep(3600)
    # Send follow-up notification
    send_notification(user_id, message)


@DBOS.workflow()
def environment_specific_backup(scheduled_at: datetime, context: Any) -> None:
    """Backup with environment-specific configuration."""
    env = context["environment"]
    retention_days = context["retention_days"]
    notification_email = context["notification_email"]
    DBOS.logger.info(f"Backing up {env} environment")
    # Perform backup
    backup_id = create_backup(env, scheduled_at)
    # Clean old backups
    cleanup_old_backups(env, retention_days)
    # Notify
    send_email(notification_email, f"{env} Backup Complete", f"Backup ID: {backup_id}")


# This schedule runs even with multiple app instances
@DBOS.scheduled("0 0 * * * *")  # Every hour
@DBOS.workflow()
def distributed_task(scheduled_at: datetime, context: Any) -> None:
    """This runs exactly once per hour across all instances."""
    # Deterministic workflow ID prevents duplicates
    workflow_id = DBOS.workflow_id
    print(f"Running scheduled task: {workflow_id}")
    SENT.append(("distributed", workflow_id))
    # Do work
    process_hourly_data(scheduled_at)
