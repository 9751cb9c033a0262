"""The system check of code-defined schedules shares the schedules' validation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.core import checks

import django_durable as durable
from django_durable import registry
from django_durable.checks import check_code_schedules


def e004() -> list[str]:
    return [m.msg for m in check_code_schedules() if m.id == "django_durable.E004"]


@pytest.mark.django_db  # Django 6 asks SQLite whether it supports JSONField
def test_the_project_s_code_defined_schedules_pass_the_check():
    assert e004() == []
    assert "django_durable.E004" not in {m.id for m in checks.run_checks()}


@pytest.mark.usefixtures("clean_registry")
def test_an_undeclared_queue_in_a_code_defined_schedule_is_an_error():
    @durable.scheduled("0 * * * *", name="needs-a-queue", queue_name="nowhere")
    @durable.workflow(name="check_queue_wf")
    def check_queue_wf(scheduled_at: datetime, context: Any) -> None:
        pass

    [message] = e004()
    assert "'needs-a-queue'" in message and "'nowhere'" in message


@pytest.mark.usefixtures("clean_registry")
def test_two_decorators_with_one_schedule_name_are_an_error():
    @durable.scheduled("0 * * * *", name="twice")
    @durable.workflow(name="check_twice_a")
    def first(scheduled_at: datetime, context: Any) -> None:
        pass

    @durable.scheduled("30 * * * *", name="twice")
    @durable.workflow(name="check_twice_b")
    def second(scheduled_at: datetime, context: Any) -> None:
        pass

    [message] = e004()
    assert "'twice'" in message and "more than one" in message
    assert {entry.schedule_name for entry in registry.code_schedules()} >= {"twice"}


@pytest.mark.usefixtures("clean_registry")
@pytest.mark.parametrize(
    ("kwargs", "field", "quoted"),
    [
        ({"cron": "61 * * * *"}, "schedule", r"'61 \* \* \* \*'"),
        (
            {"cron": "0 * * * *", "cron_timezone": "Mars/Olympus"},
            "cron_timezone",
            "'Mars/Olympus'",
        ),
        ({"cron": "0 * * * *", "context": {"when": {1, 2}}}, "context", "JSON"),
    ],
)
def test_a_bad_cron_timezone_or_context_fails_at_the_decorator(kwargs, field, quoted):
    cron = kwargs.pop("cron")
    with pytest.raises(durable.InvalidScheduleError, match=quoted) as info:
        durable.scheduled(cron, **kwargs)
    assert info.value.field == field
    assert e004() == []


@pytest.mark.usefixtures("clean_registry")
def test_scheduled_needs_a_workflow_with_the_scheduled_signature():
    with pytest.raises(durable.RegistrationError, match="put it above @workflow"):

        @durable.scheduled("0 * * * *")
        def plain(scheduled_at: datetime, context: Any) -> None:
            pass

    with pytest.raises(durable.RegistrationError, match=r"\(scheduled_at, context\)"):

        @durable.scheduled("0 * * * *")
        @durable.workflow(name="check_one_arg")
        def one_arg(x: int) -> None:
            pass
