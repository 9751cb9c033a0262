"""``WorkflowHandle``: watch a run by its id, from any thread or process.

Inside a workflow, ``get_status()`` and ``get_result()`` are recorded as steps, so a
replay sees what the first execution saw.
"""

from __future__ import annotations

from typing import Any

from django_durable.engine import recorded, runs, steps, waiting
from django_durable.engine import runtime as runtimes
from django_durable.values import WorkflowStatus

GET_STATUS_STEP = "durable.get_status"
GET_RESULT_STEP = "durable.get_result"


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
        return recorded.recorded(
            GET_RESULT_STEP,
            lambda: waiting.wait_outcome(self.workflow_id, timeout, runtime=runtimes.current()),
        )

    async def get_result_async(self, timeout: float | None = None) -> Any:
        """``get_result`` for coroutines."""
        runtime = runtimes.current()
        run = steps.durable_run()
        if run is None:
            return await waiting.await_outcome(self.workflow_id, timeout, runtime=runtime)
        number = run.next_number()
        return await steps.aexecute(
            run,
            number,
            GET_RESULT_STEP,
            lambda: waiting.await_outcome(self.workflow_id, timeout, runtime=runtime),
        )

    def get_status(self) -> WorkflowStatus:
        """A snapshot of the run; ``WorkflowNotFound`` if it does not exist."""
        status = recorded.recorded(
            GET_STATUS_STEP,
            lambda: runs.fetch(self.workflow_id).to_status(),
            encode=recorded.encode_status,
            decode=recorded.decode_status,
        )
        assert status is not None  # noqa: S101  (fetch raises rather than return None)
        return status

    async def get_status_async(self) -> WorkflowStatus:
        """``get_status`` for coroutines."""
        runtime = runtimes.current()
        run = steps.durable_run()
        if run is None:
            return await runtime.run_sync(lambda: runs.fetch(self.workflow_id).to_status())
        number = run.next_number()

        async def read() -> Any:
            status = await runtime.run_sync(lambda: runs.fetch(self.workflow_id).to_status())
            return recorded.encode_status(status)

        stored = await steps.aexecute(run, number, GET_STATUS_STEP, read)
        status = recorded.decode_status(stored)
        assert status is not None  # noqa: S101
        return status
