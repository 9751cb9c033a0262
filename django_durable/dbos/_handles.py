"""DBOS's asynchronous handle: ``await handle.get_result()``, as the ``*_async`` functions
return it; each method is the native handle's ``*_async`` twin."""

from __future__ import annotations

from typing import Any

from django_durable.engine.handles import WorkflowHandle
from django_durable.values import WorkflowStatus


class WorkflowHandleAsync:
    """A reference to one run whose reads are coroutines."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        self._handle = WorkflowHandle(workflow_id)

    def __repr__(self) -> str:
        return f"<WorkflowHandleAsync {self.workflow_id!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkflowHandleAsync) and other.workflow_id == self.workflow_id

    def __hash__(self) -> int:
        return hash(self.workflow_id)

    def get_workflow_id(self) -> str:
        return self.workflow_id

    async def get_result(self, timeout: float | None = None) -> Any:
        return await self._handle.get_result_async(timeout)

    async def get_status(self) -> WorkflowStatus:
        return await self._handle.get_status_async()


def as_async(handle: Any) -> Any:
    """A native handle (or a list of them) as DBOS's async handle(s)."""
    if isinstance(handle, WorkflowHandle):
        return WorkflowHandleAsync(handle.workflow_id)
    if isinstance(handle, list):
        return [as_async(item) for item in handle]
    return handle
