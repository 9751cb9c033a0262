"""Prometheus metrics of django_durable (the optional ``[prometheus]`` extra).

Import this package only when you use it: it needs ``prometheus_client``. Counters are
fed by django_durable's signals in the process that exposes them; gauges are read from
the database at scrape time, with one indexed query each.

- ``install()`` connects the counters (done by ``views`` and ``server`` on import/start);
- ``REGISTRY`` holds every metric of django_durable, and nothing else;
- ``views.metrics`` is a view to include in ``urls.py``;
- ``server.start(port)`` serves them on a port (``runscheduler --metrics-port``).
"""

from __future__ import annotations

try:
    import prometheus_client  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra installed
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "django_durable.metrics needs prometheus_client: "
        "pip install 'django-durable-workflows[prometheus]'."
    ) from exc

from django_durable.metrics.collectors import REGISTRY, install

__all__ = ["REGISTRY", "install"]
