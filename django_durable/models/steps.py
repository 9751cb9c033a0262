"""The ``StepOutput`` table (one row per completed step of a run) and the dashboard's
place in the admin."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from django_durable.context import RecordedStep
from django_durable.models.runs import WorkflowRun


class StepOutput(models.Model):
    """The recorded outcome of one step of a run, written once."""

    run = models.ForeignKey(
        WorkflowRun,
        on_delete=models.CASCADE,
        related_name="steps",
        db_column="workflow_id",
        db_index=False,  # the (run, step_number) unique constraint serves lookups by run
    )
    step_number = models.PositiveIntegerField()
    step_name = models.CharField(max_length=255)
    output = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    child_workflow_id = models.CharField(max_length=255, null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "step output"
        ordering = ["run", "step_number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step_number"], name="durable_step_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} #{self.step_number} {self.step_name}"

    def to_recorded(self) -> RecordedStep:
        """This row as the ``RecordedStep`` that replay returns or re-raises."""
        return RecordedStep(
            step_number=self.step_number,
            step_name=self.step_name,
            output=self.output,
            error=self.error,
            child_workflow_id=self.child_workflow_id,
        )


class Dashboard(WorkflowRun):
    """No table of its own: the operations dashboard's entry in the admin, and its
    permission (``django_durable.view_dashboard``)."""

    class Meta:
        proxy = True
        default_permissions = ("view",)
        verbose_name = "operations dashboard"
        verbose_name_plural = "operations dashboard"
