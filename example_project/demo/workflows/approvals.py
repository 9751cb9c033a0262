"""An expense that waits for a person's approval, and an import that reports its progress.

``expense_approval`` notifies an approver, publishes its status as an event, then waits
with ``durable.recv("approval")`` for up to 14 days. Waiting costs no thread: after a few
seconds the run parks on its queue, and the approval (sent by the view in ``views.py``)
wakes it on any worker. ``import_rows`` writes its progress to a stream that the
progress page reads as server-sent events while the import runs.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import django_durable as durable
from example_project.demo import services

approvals_queue = durable.Queue("approvals")
"""Expenses waiting for approval (each parks while it waits)."""
imports_queue = durable.Queue("imports", concurrency=2)
"""At most two imports run at once."""

APPROVAL_DAYS = 14
"""How long an expense waits for a decision before it expires."""


@durable.step()
def notify_approver(expense_id: str, description: str, amount: Decimal) -> str:
    return services.send_email(
        "approver@example.com",
        f"Expense {expense_id} needs your approval",
        f"{description}: {amount} EUR",
    )


@durable.step()
def pay(expense_id: str, amount: Decimal) -> str:
    """Pay the expense (a stand-in); the payment's reference."""
    return services.send_email("accounts@example.com", f"Pay {expense_id}", f"{amount} EUR")


@durable.workflow()
def expense_approval(description: str, amount: Decimal) -> str:
    """Ask for approval, wait for the decision, then pay (or not); the outcome."""
    expense_id = durable.workflow_id() or "?"
    notify_approver(expense_id, description, amount)
    durable.set_event("status", "waiting for approval")
    decision: dict[str, Any] | None = durable.recv(
        "approval", timeout_seconds=APPROVAL_DAYS * 24 * 3600
    )
    if decision is None:
        durable.set_event("status", "expired")
        return "expired"
    if not decision.get("approved"):
        durable.set_event("status", f"rejected by {decision.get('by')}")
        return "rejected"
    reference = pay(expense_id, amount)
    durable.set_event("status", f"approved by {decision.get('by')}, paid")
    return f"paid {reference}"


@durable.step()
def import_batch(batch: int, size: int, pause_seconds: float) -> int:
    """Import one batch of rows (a stand-in that takes ``pause_seconds``); how many."""
    time.sleep(pause_seconds)
    return size


@durable.workflow()
def import_rows(batches: int = 10, size: int = 250, pause_seconds: float = 0.5) -> int:
    """Import ``batches`` batches, writing ``{"done", "of", "rows"}`` to the ``progress``
    stream after each; the number of rows."""
    rows = 0
    for batch in range(batches):
        rows += import_batch(batch, size, pause_seconds)
        durable.write_stream("progress", {"done": batch + 1, "of": batches, "rows": rows})
    durable.close_stream("progress")
    return rows
