"""The ``Executor`` table: processes that run workflows, with their heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone


class ExecutorQuerySet(models.QuerySet["Executor"]):
    def dead(self, now: datetime, timeout: float) -> ExecutorQuerySet:
        return self.filter(last_heartbeat_at__lt=now - timedelta(seconds=timeout))


class Executor(models.Model):
    """A process that runs workflows, with its last heartbeat."""

    executor_id = models.CharField(max_length=255, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ExecutorQuerySet.as_manager()

    class Meta:
        verbose_name = "executor"

    def __str__(self) -> str:
        return self.executor_id
