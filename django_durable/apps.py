from __future__ import annotations

from django.apps import AppConfig


class DurableConfig(AppConfig):
    name = "django_durable"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from django_durable import checks  # noqa: F401  (registers the system checks)

        autodiscover_modules("workflows")
