"""Views the test suite calls through Django's test client."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

import django_durable as durable


@csrf_exempt
@require_POST
def send_message(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """POST ``{"message": ..., "topic": ...}``: send it to the run ``workflow_id`` (once per
    ``Idempotency-Key`` header)."""
    body = json.loads(request.body or b"{}")
    try:
        durable.send(
            workflow_id,
            body.get("message"),
            topic=body.get("topic"),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
    except durable.WorkflowNotFound as exc:
        return JsonResponse({"error": str(exc)}, status=404)
    return JsonResponse({"sent": True})
