"""System checks (``django_durable.E0xx`` errors, ``W0xx`` warnings)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

from django_durable import conf


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    durable = getattr(settings, "DURABLE", None)
    if durable is not None and not isinstance(durable, dict):
        return [
            Error(
                "DURABLE must be a dict.",
                hint=f"Got {type(durable).__name__}.",
                id="django_durable.E002",
            )
        ]
    for key in conf.unknown_keys():
        errors.append(
            Error(
                f"Unknown key {key!r} in the DURABLE setting.",
                hint="Known keys: " + ", ".join(sorted(conf.DEFAULTS)) + ".",
                id="django_durable.E001",
            )
        )
    if not settings.USE_TZ:
        errors.append(
            Error(
                "django_durable needs USE_TZ = True.",
                hint="Run times and schedules are stored as aware datetimes.",
                id="django_durable.E003",
            )
        )
    return errors


@register()
def check_code_schedules(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Each ``@scheduled`` declaration must be valid: cron, timezone, declared queue,
    JSON context, a schedulable workflow, a unique name."""
    from django_durable.schedules.code import code_definitions

    _, invalid = code_definitions()
    return [
        Error(
            f"Code-defined schedule {name!r} is invalid: {problem}",
            hint="Fix its @scheduled decorator; the scheduler does not write it until then.",
            id="django_durable.E004",
        )
        for name, problem in invalid.items()
    ]
