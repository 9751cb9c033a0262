"""The metrics view: ``path("metrics/", include("django_durable.metrics.urls"))``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from django_durable.metrics.collectors import REGISTRY, install

install()


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """django_durable's metrics in Prometheus's text format."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
