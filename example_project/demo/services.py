"""Stand-ins for the outside world of the demo: mail, backup storage and sensors.

They only log and return values, so the demo runs offline. Each is called from a
``@durable.step()``: that is where real I/O would go, and the step's checkpoint is what
stops a recovered workflow from sending the same email twice.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

logger = logging.getLogger(__name__)


def send_email(to: str, subject: str, body: str) -> str:
    """Pretend to send an email; its message id (deterministic, for the demo's tests)."""
    digest = hashlib.sha256(f"{to}\n{subject}\n{body}".encode()).hexdigest()[:12]
    message_id = f"<{digest}@mail.example.com>"
    logger.info("Email %s to %s: %s", message_id, to, subject)
    return message_id


def store_backup(environment: str, taken_at: datetime) -> str:
    """Pretend to write a backup of ``environment``; its id."""
    backup_id = f"{environment}-{taken_at:%Y%m%dT%H%M%S}"
    logger.info("Backup %s stored", backup_id)
    return backup_id


def prune_backups(environment: str, retention_days: int) -> int:
    """Pretend to delete the backups of ``environment`` older than ``retention_days``;
    how many were deleted (the demo keeps none, so none)."""
    logger.info("Pruned %s backups older than %d days", environment, retention_days)
    return 0


def read_sensor(metric_type: str, at: datetime) -> float:
    """A made-up reading of ``metric_type`` at ``at`` (the same inputs give the same value)."""
    digest = hashlib.sha256(f"{metric_type}@{at.isoformat()}".encode()).digest()
    return round(int.from_bytes(digest[:2], "big") / 65535 * 100, 2)
