"""``durable.logger``: a logger that adds the current workflow and step ids to each record."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from django_durable import context


class WorkflowLoggerAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Adds ``workflow_id`` and ``step_id`` (``None`` outside a workflow) to ``extra``."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("workflow_id", context.workflow_id())
        extra.setdefault("step_id", context.step_id())
        kwargs["extra"] = extra
        return msg, kwargs


logger = WorkflowLoggerAdapter(logging.getLogger("django_durable.workflows"), {})
