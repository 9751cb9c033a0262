"""Backups: one workflow per kind of backup; what differs per environment is the context
of each schedule (see ``example_project/demo/schedules.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_durable as durable
from example_project.demo import services


@durable.step()
def create_backup(name: str, scheduled_at: datetime) -> str:
    """Take the backup; its id."""
    return services.store_backup(name, scheduled_at)


@durable.step()
def cleanup_old_backups(env: str, retention_days: int) -> int:
    """Delete the backups past retention; how many."""
    return services.prune_backups(env, retention_days)


@durable.step()
def send_email(to: str, subject: str, body: str) -> str:
    """Send a notification; its message id."""
    return services.send_email(to, subject, body)


@durable.workflow()
def backup_database(scheduled_at: datetime, context: Any) -> str:
    """Perform a database backup; its id."""
    backup_name = context["backup_name"]
    durable.logger.info("Starting backup: %s", backup_name)
    return create_backup(backup_name, scheduled_at)


@durable.workflow()
def environment_specific_backup(scheduled_at: datetime, context: Any) -> str:
    """Back up the environment the context names, prune its old backups and notify; the
    backup's id."""
    env = context["environment"]
    retention_days = context["retention_days"]
    notification_email = context["notification_email"]
    durable.logger.info("Backing up %s environment", env)

    backup_id = create_backup(env, scheduled_at)
    cleanup_old_backups(env, retention_days)
    send_email(notification_email, f"{env} Backup Complete", f"Backup ID: {backup_id}")
    return backup_id
