"""The test URLconf with django_durable's metrics view included."""

from __future__ import annotations

from django.urls import include, path

from tests.urls import urlpatterns as admin_urls

urlpatterns = [*admin_urls, path("metrics/", include("django_durable.metrics.urls"))]
