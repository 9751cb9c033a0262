"""Models of the demo app."""

from __future__ import annotations

from django.db import models


class Metric(models.Model):
    """One measurement, written by the ``record_metric`` workflow and read by the reports."""

    timestamp = models.DateTimeField(db_index=True)
    metric_type = models.CharField(max_length=50)
    value = models.FloatField()
    workflow_id = models.CharField(
        max_length=255,
        unique=True,
        help_text="The run that recorded it: one row per run, however often it is replayed.",
    )

    objects: models.Manager[Metric] = models.Manager()

    class Meta:
        ordering = ("-timestamp", "metric_type")
        indexes = (
            models.Index(fields=["metric_type", "timestamp"], name="demo_metric_type_time"),
        )

    def __str__(self) -> str:
        return f"{self.metric_type} = {self.value:g} at {self.timestamp:%Y-%m-%d %H:%M:%S}"
