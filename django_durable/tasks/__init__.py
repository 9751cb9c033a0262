"""A ``django.tasks`` backend whose tasks run as durable workflow runs (Django 6 and later).

Configure it in ``TASKS``::

    TASKS = {"default": {"BACKEND": "django_durable.tasks.DurableBackend", "QUEUES": ["default"]}}

Each enqueued task is a ``WorkflowRun`` on a declared ``durable.Queue``, executed by the
workers of ``manage.py runscheduler`` and recovered like any run. ``docs/tasks.md`` has the
details (priorities, statuses, ``run_after``, steps inside tasks, schedules of tasks).
"""

from __future__ import annotations

import django
from django.core.exceptions import ImproperlyConfigured

try:
    import django.tasks
except ImportError:
    raise ImproperlyConfigured(
        f"django_durable.tasks needs django.tasks, which Django 6.0 introduced; this is "
        f"Django {django.get_version()}. Upgrade Django or remove "
        f"'django_durable.tasks.DurableBackend' from the TASKS setting."
    ) from None

from django_durable.tasks.backend import DurableBackend, autodiscover
from django_durable.tasks.results import (
    run_priority,
    task_priority,
    task_status,
)

__all__ = ["DurableBackend", "autodiscover", "run_priority", "task_priority", "task_status"]
