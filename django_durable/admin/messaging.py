"""What the run page shows of a run's messages, events and streams (one query each)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q

from django_durable import conf
from django_durable.admin import display
from django_durable.models import StreamEntry, WorkflowEvent, WorkflowMessage, WorkflowRun

SHOWN = 50
"""The most messages and events a run page lists (the newest)."""


def published(run: WorkflowRun) -> dict[str, Any]:
    """The run's events (by key), the messages sent to it (newest first) and its streams
    (values written, whether closed)."""
    using = conf.database_alias()
    events = WorkflowEvent.objects.using(using).filter(run_id=run.pk).order_by("key")[:SHOWN]
    messages = (
        WorkflowMessage.objects.using(using).filter(destination_id=run.pk).order_by("-pk")[:SHOWN]
    )
    streams = (
        StreamEntry.objects.using(using)
        .filter(run_id=run.pk)
        .values("key")
        .annotate(
            values=Count("pk", filter=Q(closed=False)), ends=Count("pk", filter=Q(closed=True))
        )
        .order_by("key")[:SHOWN]
    )
    return {
        "events": [
            {"key": e.key, "value": display.pretty(e.value), "at": display.when(e.updated_at)}
            for e in events
        ],
        "messages": [
            {
                "topic": "-" if m.topic is None else m.topic,
                "value": display.pretty(m.message),
                "sent": display.when(m.created_at),
                "received": display.when(m.consumed_at) if m.consumed_at else "not yet",
            }
            for m in messages
        ],
        "streams": [
            {"key": row["key"], "values": row["values"], "closed": bool(row["ends"])}
            for row in streams
        ],
    }
