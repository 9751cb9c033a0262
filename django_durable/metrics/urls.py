"""``path("metrics/", include("django_durable.metrics.urls"))`` serves the metrics."""

from __future__ import annotations

from django.urls import path

from django_durable.metrics.views import metrics

urlpatterns = [path("", metrics, name="durable-metrics")]
