"""Pages of the demo beside the admin: approving expenses, and an import's progress bar.

Both need a staff login (the admin's). The approvals page lists the expenses waiting for
a decision, with the status each one publishes; its buttons send the decision to the
waiting run with ``durable.send``. The imports page starts an import and shows its
progress, read from the run's stream and sent to the browser as server-sent events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

import django_durable as durable
from example_project.demo.workflows.approvals import (
    approvals_queue,
    expense_approval,
    import_rows,
    imports_queue,
)

IN_FLIGHT = ["ENQUEUED", "PENDING"]


@staff_member_required
def approvals(request: HttpRequest) -> HttpResponse:
    """GET: the expenses waiting for a decision; POST: file a new expense."""
    if request.method == "POST":
        description = request.POST.get("description", "").strip()[:200]
        try:
            amount = Decimal(request.POST.get("amount", ""))
        except InvalidOperation:
            amount = Decimal(-1)
        if not description or not Decimal(0) < amount < Decimal(10**9):
            messages.error(request, "Give a description and an amount above 0.")
        else:
            handle = approvals_queue.enqueue(expense_approval, description, amount)
            messages.success(request, f"Expense {handle.workflow_id} filed.")
        return redirect("demo-approvals")
    waiting = durable.list_workflows(
        name="expense_approval", status=IN_FLIGHT, sort_desc=True, limit=50
    )
    rows = [
        {
            "id": run.workflow_id,
            "description": run.input["args"][0] if run.input else "?",
            "amount": run.input["args"][1] if run.input else "?",
            "status": durable.get_event(run.workflow_id, "status", timeout_seconds=0)
            or "starting",
        }
        for run in waiting
    ]
    return render(request, "demo/approvals.html", {"expenses": rows})


@staff_member_required
@require_POST
def decide(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """Send the decision to the waiting run (once, even if the button is pressed twice)."""
    approved = request.POST.get("decision") == "approve"
    try:
        durable.send(
            workflow_id,
            {"approved": approved, "by": request.user.get_username()},
            topic="approval",
            idempotency_key=f"decision-{workflow_id}",
        )
    except durable.WorkflowNotFound:
        messages.error(request, f"No expense {workflow_id}.")
    else:
        verb = "Approved" if approved else "Rejected"
        messages.success(request, f"{verb} expense {workflow_id}.")
    return redirect("demo-approvals")


@staff_member_required
def imports(request: HttpRequest) -> HttpResponse:
    """GET: a button to start an import; POST: start one and show its progress."""
    if request.method == "POST":
        handle = imports_queue.enqueue(import_rows)
        return redirect("demo-import", workflow_id=handle.workflow_id)
    return render(request, "demo/import.html", {"workflow_id": None})


@staff_member_required
@require_GET
def import_page(request: HttpRequest, workflow_id: str) -> HttpResponse:
    return render(request, "demo/import.html", {"workflow_id": workflow_id})


def _events(workflow_id: str) -> Iterator[str]:
    for value in durable.read_stream(workflow_id, "progress"):
        yield f"data: {json.dumps(value)}\n\n"
    status = durable.retrieve_workflow(workflow_id).get_status()
    yield f"event: end\ndata: {json.dumps({'status': status.status})}\n\n"


@staff_member_required
@require_GET
def import_progress(request: HttpRequest, workflow_id: str) -> StreamingHttpResponse:
    """The import's progress as server-sent events, one per value of its stream, as the
    import writes them; an ``end`` event when the stream is closed (or the run ends)."""
    response = StreamingHttpResponse(_events(workflow_id), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
