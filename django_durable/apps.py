from __future__ import annotations

from typing import Any

import django
from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _prepare_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """SQLite connections of the durable database wait for other writers (a long busy
    timeout) unless the project chose a timeout itself."""
    from django_durable import conf, db

    if connection.alias == conf.database_alias():
        db.prepare_connection(connection)


class DurableConfig(AppConfig):
    name = "django_durable"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from django_durable import (
            checks,  # noqa: F401  (registers the system checks)
            queue_store,  # noqa: F401  (queues registered at runtime)
        )

        connection_created.connect(_prepare_connection, dispatch_uid="django_durable_sqlite")
        autodiscover_modules("workflows")
        if django.VERSION >= (6, 0):
            # With a durable task backend configured, import each app's tasks.py so this
            # process's workers know its tasks (after workflows.py, which declares queues).
            from django_durable.tasks import autodiscover as autodiscover_tasks

            autodiscover_tasks()
