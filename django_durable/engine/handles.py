"""``WorkflowHandle``: watch a run by its id, from any thread or process."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from django_durable.engine import runs
from django_durable.values import WorkflowStatus


class WorkflowHandle:
    """A reference to one run; cheap to create, reads the database when asked."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.workflow_id!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkflowHandle) and other.workflow_id == self.workflow_id

    def __hash__(self) -> int:
        return hash(self.workflow_id)

    def get_workflow_id(self) -> str:
        return self.workflow_id

    def get_result(self, timeout: float | None = None) -> Any:
        """Wait for the run to finish; return its result or raise its error.

        ``timeout`` (seconds) raises ``WorkflowTimeout`` when exceeded.
        """
        return runs.wait_outcome(self.workflow_id, timeout)

    async def get_result_async(self, timeout: float | None = None) -> Any:
        """``get_result`` for coroutines."""
        return await runs.await_outcome(self.workflow_id, timeout)

    def get_status(self) -> WorkflowStatus:
        """A snapshot of the run; ``WorkflowNotFound`` if it does not exist."""
        return runs.fetch(self.workflow_id).to_status()

    async def get_status_async(self) -> WorkflowStatus:
        return await sync_to_async(self.get_status)()
