"""System checks on the DURABLE setting, and the lazily read settings dict."""

from __future__ import annotations

import pytest
from django.core import checks as django_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_durable import conf
from django_durable.checks import check_settings


def ids(messages: list[django_checks.CheckMessage]) -> list[str]:
    return [m.id for m in messages]


def test_a_valid_configuration_has_no_errors():
    with override_settings(DURABLE={"POLL_INTERVAL": 0.5, "MAX_BACKFILL": 10}):
        assert check_settings() == []
    with override_settings(DURABLE={}):
        assert check_settings() == []


def test_no_durable_setting_at_all_is_valid():
    with override_settings():
        from django.conf import settings

        del settings.DURABLE
        assert check_settings() == []
        assert conf.get_settings() == conf.DEFAULTS


def test_an_unknown_key_is_e001_naming_the_key():
    with override_settings(DURABLE={"POLL_INTERVAL": 1.0, "POLL_INTERVALL": 2.0}):
        messages = check_settings()
    assert ids(messages) == ["django_durable.E001"]
    assert "'POLL_INTERVALL'" in messages[0].msg
    assert "POLL_INTERVAL" in messages[0].hint
    assert messages[0].level == django_checks.ERROR


def test_each_unknown_key_is_reported():
    with override_settings(DURABLE={"B_UNKNOWN": 1, "A_UNKNOWN": 2}):
        messages = check_settings()
    assert ids(messages) == ["django_durable.E001", "django_durable.E001"]
    assert ["'A_UNKNOWN'" in messages[0].msg, "'B_UNKNOWN'" in messages[1].msg] == [True, True]


def test_a_durable_setting_that_is_not_a_dict_is_e002():
    with override_settings(DURABLE=["EXECUTOR_ID"]):
        messages = check_settings()
    assert ids(messages) == ["django_durable.E002"]
    assert "list" in messages[0].hint


def test_use_tz_false_is_e003():
    with override_settings(USE_TZ=False):
        messages = check_settings()
    assert ids(messages) == ["django_durable.E003"]
    assert "USE_TZ" in messages[0].msg


def test_both_problems_are_reported_together():
    with override_settings(USE_TZ=False, DURABLE={"NOPE": 1}):
        assert ids(check_settings()) == ["django_durable.E001", "django_durable.E003"]


@pytest.mark.django_db  # Django 6 asks SQLite whether it supports JSONField
def test_the_check_is_registered_with_django():
    with override_settings(DURABLE={"UNKNOWN_KEY": 1}):
        messages = django_checks.run_checks()
        assert "django_durable.E001" in ids(messages)
        with pytest.raises(SystemCheckError, match="UNKNOWN_KEY"):
            call_command("check")
    assert "django_durable.E001" not in ids(django_checks.run_checks())


def test_get_settings_follows_override_settings():
    assert conf.get_settings()["MAX_BACKFILL"] == conf.DEFAULTS["MAX_BACKFILL"]
    # Only keys that no background thread (heartbeat, workers) reads are overridden here.
    default_timeout = conf.DEFAULTS["DEAD_EXECUTOR_TIMEOUT"]
    with override_settings(DURABLE={"MAX_BACKFILL": 5, "DEAD_EXECUTOR_TIMEOUT": 99.0}):
        settings = conf.get_settings()
        assert settings["MAX_BACKFILL"] == 5
        assert settings["POLL_INTERVAL"] == conf.DEFAULTS["POLL_INTERVAL"]  # defaults kept
        assert conf.get("DEAD_EXECUTOR_TIMEOUT") == 99.0
        with override_settings(DURABLE={"MAX_BACKFILL": 7}):
            assert conf.get("MAX_BACKFILL") == 7
            assert conf.get("DEAD_EXECUTOR_TIMEOUT") == default_timeout
        assert conf.get("MAX_BACKFILL") == 5
    # The cache was cleared again when the override ended.
    assert conf.get("MAX_BACKFILL") == conf.DEFAULTS["MAX_BACKFILL"]
    assert conf.get("DEAD_EXECUTOR_TIMEOUT") == default_timeout


def test_get_settings_does_not_share_its_defaults():
    with override_settings(DURABLE={"MAX_BACKFILL": 3}):
        conf.get_settings()
    assert conf.DEFAULTS["MAX_BACKFILL"] == 1000


# ---------------------------------------------------------------- SQLite and schedule rows


def test_sqlite_on_djangos_defaults_gets_no_warning():
    """The library takes the write lock at the start of its own SQLite transactions and
    sets a long busy timeout on its connections: nothing to ask of the project."""
    from django.core import checks

    messages = [m for m in checks.run_checks() if m.id and m.id.startswith("django_durable.W")]
    assert messages == []


def test_a_durable_database_other_than_postgresql_or_sqlite_is_e005():
    from django_durable.checks import check_database_vendor, database_vendor_errors

    assert check_database_vendor() == []  # the test settings: SQLite or PostgreSQL
    databases = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x.sqlite3"},
        "pg": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"},
        "legacy": {"ENGINE": "django.db.backends.mysql", "NAME": "legacy"},
        "typo": {"ENGINE": "django.db.backends.postgres", "NAME": "x"},
        "blank": {},
    }
    assert database_vendor_errors("default", databases) == []
    assert database_vendor_errors("pg", databases) == []
    for alias, engine in (("legacy", "mysql"), ("typo", "postgres"), ("blank", "''")):
        messages = database_vendor_errors(alias, databases)
        assert ids(messages) == ["django_durable.E005"]
        assert f"'{alias}'" in messages[0].msg and engine in messages[0].msg
    # An alias missing from DATABASES is an error too, rather than a crash later.
    messages = database_vendor_errors("missing", databases)
    assert ids(messages) == ["django_durable.E005"]
    assert "'missing'" in messages[0].msg and "'legacy'" in messages[0].hint


@pytest.mark.django_db
def test_a_schedule_row_of_an_unregistered_workflow_is_w002_with_check_database():
    import django_durable as durable
    from django_durable.checks import check_schedule_workflows
    from django_durable.models import WorkflowSchedule
    from tests import workflows

    durable.create_schedule(
        schedule_name="orphan-1", workflow_fn=workflows.scheduled_report, schedule="@daily"
    )
    durable.create_schedule(
        schedule_name="kept", workflow_fn=workflows.backup_database, schedule="@daily"
    )
    assert check_schedule_workflows(databases=["default"]) == []
    WorkflowSchedule.objects.filter(schedule_name="orphan-1").update(workflow_name="gone_wf")
    messages = check_schedule_workflows(databases=["default"])
    assert ids(messages) == ["django_durable.W002"]
    assert "'gone_wf'" in messages[0].msg and "'orphan-1'" in messages[0].msg
    assert "'kept'" not in messages[0].msg
    # Only with `check --database`: without the databases argument nothing is queried.
    assert check_schedule_workflows() == []
    assert check_schedule_workflows(databases=["other"]) == []
