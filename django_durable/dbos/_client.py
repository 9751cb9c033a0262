"""``DBOSClient``: DBOS Transact's client as a thin map onto ``django_durable.client`` and
the package's management functions. The connection is Django's (``DURABLE["DATABASE"]``),
so the constructor's database arguments are accepted and not used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_durable import client
from django_durable.dbos._dbos import OFF_LOOP, SAME, _off_loop, _package
from django_durable.dbos._handles import WorkflowHandleAsync
from django_durable.engine.handles import WorkflowHandle

_CLIENT_OWN = {
    "enqueue": client.enqueue,
    "retrieve_workflow": client.retrieve_workflow,
    "send": client.send,
    "send_async": client.send_async,
    "get_event": client.get_event,
    "get_event_async": client.get_event_async,
}


class DBOSClient:
    """Enqueue, inspect and manage runs from a process that need not import their code."""

    def __init__(self, system_database_url: str | None = None, **options: Any) -> None:
        self.system_database_url = system_database_url

    def __getattr__(self, name: str) -> Any:
        if name in _CLIENT_OWN:
            return _CLIENT_OWN[name]
        if name in SAME:
            return _package(name)
        if name in OFF_LOOP:
            return _off_loop(OFF_LOOP[name])
        raise AttributeError(f"DBOSClient has no attribute {name!r} in django_durable.")

    def destroy(self) -> None:
        """Nothing to close: the connection is Django's."""

    async def enqueue_async(
        self, options: Mapping[str, Any], *args: Any, **kwargs: Any
    ) -> WorkflowHandleAsync:
        handle = await client.enqueue_async(options, *args, **kwargs)
        return WorkflowHandleAsync(handle.workflow_id)

    async def retrieve_workflow_async(self, workflow_id: str) -> WorkflowHandleAsync:
        handle: WorkflowHandle = await client.retrieve_workflow_async(workflow_id)
        return WorkflowHandleAsync(handle.workflow_id)
