"""The ``WorkflowQueue`` table: each queue's limits, editable at runtime.

Every worker reads the rows of the queues it serves (at most once a second), so a change
made through the API or the admin applies to every process without a restart. Queues
declared in code are written here when a worker starts; ``declared`` keeps the code's
declaration, so an edit made at runtime survives restarts until the code itself changes.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class QueueOrigin(models.TextChoices):
    CODE = "code", "Code (Queue(...))"
    RUNTIME = "runtime", "Runtime (API or admin)"


class WorkflowQueueQuerySet(models.QuerySet["WorkflowQueue"]):
    def defined_in_code(self) -> WorkflowQueueQuerySet:
        return self.filter(origin=QueueOrigin.CODE)


class WorkflowQueue(models.Model):
    """A queue's settings: global, per-process and rate limits, partitioning, polling."""

    name = models.CharField(max_length=255, primary_key=True)
    concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most runs of this queue executing at once across all processes "
        "(per partition on a partitioned queue); empty: no limit.",
    )
    worker_concurrency = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Most runs of this queue executing at once in one process (per "
        "partition on a partitioned queue); empty: no limit.",
    )
    limiter_limit = models.PositiveIntegerField(
        "rate limit",
        null=True,
        blank=True,
        help_text="Most runs started in any window of the rate period; empty: no rate limit.",
    )
    limiter_period = models.FloatField(
        "rate period (seconds)", null=True, blank=True, help_text="The rate limit's window."
    )
    priority_enabled = models.BooleanField(
        default=False,
        help_text="Recorded for DBOS compatibility: lower priority numbers always run first.",
    )
    partition_queue = models.BooleanField(
        default=False,
        help_text="Every run needs a partition key, and the limits apply to each partition.",
    )
    polling_interval_sec = models.FloatField(
        "polling interval (seconds)",
        null=True,
        blank=True,
        help_text="How often idle workers look for runs; empty: DURABLE['POLL_INTERVAL'].",
    )
    origin = models.CharField(
        max_length=16, choices=QueueOrigin.choices, default=QueueOrigin.RUNTIME
    )
    declared = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The code's declaration when it was last written (code-defined queues).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = WorkflowQueueQuerySet.as_manager()

    class Meta:
        verbose_name = "workflow queue"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def settings(self) -> dict[str, Any]:
        """The limits as the keyword arguments ``register_queue`` takes."""
        limiter = None
        if self.limiter_limit is not None and self.limiter_period is not None:
            limiter = {"limit": self.limiter_limit, "period": self.limiter_period}
        return {
            "concurrency": self.concurrency,
            "worker_concurrency": self.worker_concurrency,
            "limiter": limiter,
            "priority_enabled": self.priority_enabled,
            "partition_queue": self.partition_queue,
            "polling_interval_sec": self.polling_interval_sec,
        }
