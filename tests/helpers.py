"""Small helpers shared by the test modules."""

from __future__ import annotations

from django_durable.models import StepOutput


def step_rows(workflow_id: str) -> list[tuple[int, str]]:
    """``(step_number, step_name)`` of a run's recorded steps, in order."""
    return list(
        StepOutput.objects.filter(run_id=workflow_id)
        .order_by("step_number")
        .values_list("step_number", "step_name")
    )
