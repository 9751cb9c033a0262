from __future__ import annotations

import django
from django.apps import AppConfig


class DurableConfig(AppConfig):
    name = "django_durable"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from django_durable import checks  # noqa: F401  (registers the system checks)

        autodiscover_modules("workflows")
        if django.VERSION >= (6, 0):
            # With a durable task backend configured, import each app's tasks.py so this
            # process's workers know its tasks (after workflows.py, which declares queues).
            from django_durable.tasks import autodiscover as autodiscover_tasks

            autodiscover_tasks()
