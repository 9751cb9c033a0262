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


# The statements of a workflow of three steps called directly (outside a transaction): it
# commits four times (N + 1 for N steps): the run's INSERT, the checkpoints of steps 1 and
# 2 (each written right before the next step's body runs), and step 3's checkpoint with
# the outcome. PostgreSQL sends the last two as one statement.
THREE_STEP_STATEMENTS = {
    "postgresql": ["INSERT", "INSERT", "INSERT", "WITH"],
    "sqlite": ["INSERT", "INSERT", "INSERT", "BEGIN", "INSERT", "UPDATE", "COMMIT"],
}


def commits(verbs: list[str]) -> int:
    """Commits of a statement sequence: each statement outside BEGIN ... COMMIT commits on
    its own (autocommit), each COMMIT commits its transaction."""
    count, in_transaction = 0, False
    for verb in verbs:
        if verb == "BEGIN":
            in_transaction = True
        elif verb == "COMMIT":
            in_transaction = False
            count += 1
        elif not in_transaction:
            count += 1
    return count
