"""System checks (``django_durable.E0xx`` errors, ``W0xx`` warnings)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from django_durable import conf
from django_durable.exceptions import ConfigurationError


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
    version = conf.get("APPLICATION_VERSION")
    if version is not None and (not isinstance(version, str) or not 0 < len(version) <= 255):
        errors.append(
            Error(
                "DURABLE['APPLICATION_VERSION'] must be a non-empty string of at most 255 "
                "characters, or None.",
                hint=f"Got {version!r}.",
                id="django_durable.E006",
            )
        )
    errors.extend(_park_threshold_errors(durable or {}))
    try:
        conf.max_context_bytes()
    except ConfigurationError as exc:
        errors.append(
            Error(
                str(exc),
                hint="The size cap of a schedule's context, in bytes of compact JSON.",
                id="django_durable.E008",
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
    from django_durable import tracing

    problem = tracing.check()
    if problem is not None:
        errors.append(
            Error(
                problem,
                hint="Install the otel extra, or set DURABLE['TRACING'] = False.",
                id="django_durable.E007",
            )
        )
    return errors


def _park_threshold_errors(durable: dict[str, Any]) -> list[CheckMessage]:
    value = durable.get("PARK_THRESHOLD", conf.DEFAULTS["PARK_THRESHOLD"])
    if value is None or (
        not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < 1e9
    ):
        return []
    return [
        Error(
            f"DURABLE['PARK_THRESHOLD'] must be a number of seconds >= 0 or None, got {value!r}.",
            hint="A queued run that waits longer than this parks; None never parks.",
            id="django_durable.E030",
        )
    ]


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


SUPPORTED_VENDORS = ("postgresql", "sqlite")


@register()
def check_database_vendor(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The durable database must exist and be PostgreSQL or SQLite (the claim, the locks
    and the notifications are written for those two)."""
    return database_vendor_errors(conf.database_alias(), settings.DATABASES)


def database_vendor_errors(alias: str, databases: dict[str, Any]) -> list[CheckMessage]:
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import load_backend

    database = databases.get(alias)
    if database is None:
        return [
            Error(
                f"DURABLE['DATABASE'] is {alias!r}, which is not in DATABASES.",
                hint=f"Use one of: {', '.join(map(repr, databases))}.",
                id="django_durable.E005",
            )
        ]
    engine = str(database.get("ENGINE") or "")
    try:
        vendor = str(load_backend(engine).DatabaseWrapper.vendor)
    except (ImproperlyConfigured, ImportError, TypeError, ValueError):  # "" or a bad path
        vendor = "not loadable here"
    if vendor in SUPPORTED_VENDORS:
        return []
    return [
        Error(
            f"The durable database {alias!r} uses {engine!r} ({vendor}): django_durable "
            "runs on PostgreSQL and SQLite.",
            hint="Point DURABLE['DATABASE'] at a PostgreSQL or SQLite database alias.",
            id="django_durable.E005",
        )
    ]


@register(Tags.database)
def check_schedule_workflows(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Schedule rows the scheduler skips (``check --database``): their workflow is not
    registered in this code (W002), or their cron or timezone is invalid, as a row
    written by raw SQL can be (W003)."""
    from django.db import DatabaseError

    from django_durable import registry
    from django_durable.cron import Cron
    from django_durable.exceptions import InvalidScheduleError
    from django_durable.models import WorkflowSchedule

    alias = conf.database_alias()
    if not databases or alias not in databases:
        return []
    try:
        rows = list(
            WorkflowSchedule.objects.using(alias)
            .order_by("schedule_name")
            .values_list(
                "schedule_name",
                "workflow_name",
                "workflow_class_name",
                "schedule",
                "cron_timezone",
            )
        )
    except DatabaseError:  # not migrated yet: nothing to check
        return []
    orphans: dict[str, list[str]] = {}
    invalid: list[tuple[str, str]] = []
    for schedule_name, workflow_name, class_name, cron, zone in rows:
        info = registry.find_workflow(workflow_name)
        if info is None or info.class_name != (class_name or None):
            orphans.setdefault(workflow_name, []).append(schedule_name)
        try:
            Cron.parse(cron, zone or None)
        except InvalidScheduleError as exc:
            invalid.append((schedule_name, str(exc)))
    warnings: list[CheckMessage] = []
    for workflow_name, names in sorted(orphans.items()):
        shown = ", ".join(repr(name) for name in names[:5])
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        warnings.append(
            Warning(
                f"Workflow {workflow_name!r} is not registered, but schedule(s) {shown}{more} "
                "run it; the scheduler skips them.",
                hint="Restore the workflow, or delete or pause those schedules.",
                id="django_durable.W002",
            )
        )
    for schedule_name, problem in invalid[:20]:
        warnings.append(
            Warning(
                f"Schedule {schedule_name!r} cannot fire: {problem} The scheduler skips it.",
                hint="Save a valid cron and timezone for it (admin or apply_schedules), or "
                "delete it.",
                id="django_durable.W003",
            )
        )
    if len(invalid) > 20:
        warnings.append(
            Warning(
                f"{len(invalid) - 20} more schedule(s) cannot fire for the same reasons.",
                id="django_durable.W003",
            )
        )
    return warnings
