"""Decorator validation and the package's public surface; no database needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import django_durable as durable
from django_durable import registry

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("clean_registry")


def registered() -> tuple[list[str], list[str]]:
    return registry.workflow_names(), sorted(registry._classes)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("make", "value"),
    [
        (lambda: durable.workflow(max_recovery_attempts=0), "0"),
        (lambda: durable.workflow(max_recovery_attempts=-5), "-5"),
        (lambda: durable.workflow(max_recovery_attempts=2.5), "2.5"),
        (lambda: durable.workflow(max_recovery_attempts=True), "True"),
        (lambda: durable.workflow(name=""), "''"),
        (lambda: durable.step(max_attempts=0), "0"),
        (lambda: durable.step(max_attempts="3"), "'3'"),
        (lambda: durable.step(interval_seconds=-1), "-1"),
        (lambda: durable.step(interval_seconds="1"), "'1'"),
        (lambda: durable.step(backoff_rate=0), "0"),
        (lambda: durable.step(backoff_rate=-2.0), "-2.0"),
        (lambda: durable.step(should_retry="yes"), "'yes'"),
        (lambda: durable.transaction(isolation_level="CHAOS"), "'CHAOS'"),
        (lambda: durable.durable_class(class_name=""), "''"),
    ],
    ids=[
        "workflow-max_recovery_attempts-0",
        "workflow-max_recovery_attempts-negative",
        "workflow-max_recovery_attempts-float",
        "workflow-max_recovery_attempts-bool",
        "workflow-name-empty",
        "step-max_attempts-0",
        "step-max_attempts-str",
        "step-interval_seconds-negative",
        "step-interval_seconds-str",
        "step-backoff_rate-0",
        "step-backoff_rate-negative",
        "step-should_retry-not-callable",
        "transaction-isolation_level-CHAOS",
        "durable_class-class_name-empty",
    ],
)
def test_a_bad_decorator_argument_is_a_configuration_error_naming_the_value(make, value):
    before = registered()
    with pytest.raises(durable.ConfigurationError) as info:
        make()
    assert value in str(info.value)
    assert registered() == before


def test_configuration_error_is_a_durable_error_and_improperly_configured():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(durable.DurableError):
        durable.step(max_attempts=0)
    with pytest.raises(ImproperlyConfigured):
        durable.step(max_attempts=0)


@pytest.mark.parametrize("level", ["read committed", "REPEATABLE_READ", " serializable "])
def test_isolation_levels_are_accepted_in_any_spelling(level):
    @durable.transaction(isolation_level=level)
    def body() -> None:
        pass

    assert body.__durable_transaction__ is True


def test_an_async_function_under_transaction_is_refused_naming_it():
    before = registered()
    with pytest.raises(durable.RegistrationError, match=r"async_body.*async"):

        @durable.transaction()
        async def async_body() -> None:
            pass

    assert registered() == before


@pytest.mark.parametrize("decorator", [durable.workflow, durable.step, durable.transaction])
@pytest.mark.parametrize("wrapper", [staticmethod, classmethod])
def test_a_durable_decorator_above_staticmethod_is_refused(decorator, wrapper):
    def misplaced(*args: Any) -> None:
        pass

    before = registered()
    with pytest.raises(durable.RegistrationError, match=rf"below @{wrapper.__name__},"):
        decorator()(wrapper(misplaced))
    assert registered() == before


def test_the_misplaced_decorator_error_names_the_function():
    """DESIGN: "Messages name the offending value" (here: which function is misdecorated)."""

    def misplaced_workflow() -> None:
        pass

    with pytest.raises(durable.RegistrationError) as info:
        durable.workflow()(staticmethod(misplaced_workflow))
    assert "misplaced_workflow" in str(info.value)


def test_a_durable_decorator_above_staticmethod_in_a_class_body_is_refused():
    before = registered()
    with pytest.raises(durable.RegistrationError, match="below @staticmethod"):

        class Misdecorated:
            @durable.workflow()
            @staticmethod
            def wf() -> None:
                pass

    assert registered() == before


# ---------------------------------------------------------------- without parentheses


def test_workflow_without_parentheses_registers_the_function():
    @durable.workflow
    def bare_workflow(x: int) -> int:
        return x

    info = registry.get_workflow(bare_workflow.__qualname__)
    assert info.func is bare_workflow.__wrapped__
    assert (info.max_recovery_attempts, info.explicit_name, info.is_async) == (100, False, False)
    assert bare_workflow.__durable_workflow__ is info
    assert bare_workflow.__name__ == "bare_workflow"


def test_workflow_with_parentheses_takes_a_name_and_recovery_attempts():
    @durable.workflow(name="unit-named", max_recovery_attempts=3)
    def some_function() -> None:
        pass

    info = registry.get_workflow("unit-named")
    assert (info.func, info.max_recovery_attempts, info.explicit_name) == (
        some_function.__wrapped__,
        3,
        True,
    )
    assert registry.find_workflow(some_function.__qualname__) is None


def test_an_async_workflow_is_registered_as_async():
    @durable.workflow
    async def bare_async() -> None:
        pass

    assert registry.get_workflow(bare_async.__qualname__).is_async is True


def test_step_without_parentheses_is_a_plain_call_outside_a_workflow():
    @durable.step
    def bare_step(x: int) -> int:
        return x * 3

    assert bare_step(4) == 12
    assert bare_step.__durable_step__.name == bare_step.__qualname__
    assert bare_step.__durable_step__.retries_allowed is False


def test_step_options_are_kept():
    def never(exc: BaseException) -> bool:
        return False

    @durable.step(
        name="custom",
        retries_allowed=True,
        max_attempts=7,
        interval_seconds=0,
        backoff_rate=1.5,
        should_retry=never,
    )
    def configured() -> None:
        pass

    opts = configured.__durable_step__
    assert (
        opts.name,
        opts.retries_allowed,
        opts.max_attempts,
        opts.interval_seconds,
        opts.backoff_rate,
        opts.should_retry,
    ) == ("custom", True, 7, 0.0, 1.5, never)


def test_durable_class_without_parentheses_registers_the_class():
    @durable.durable_class
    class BareClass:
        @staticmethod
        @durable.workflow()
        def wf() -> str:
            return "bare"

    info = registry.get_class(BareClass.__qualname__)
    assert info.cls is BareClass
    assert registry.get_workflow(f"{BareClass.__qualname__}.wf").class_info is info


# ---------------------------------------------------------------- the package surface


def test_every_name_in_all_resolves():
    missing = [name for name in durable.__all__ if not hasattr(durable, name)]
    assert missing == []
    for name in durable.__all__:
        assert getattr(durable, name) is not None
    assert sorted(durable.__all__) == sorted(set(durable.__all__))  # no duplicates


def test_all_and_the_lazy_exports_agree():
    assert set(durable.__all__) == set(durable._EXPORTS)
    assert set(durable.__all__) <= set(dir(durable))


def test_the_design_api_is_exported():
    design_names = {
        "workflow", "step", "transaction", "durable_class", "ConfiguredInstance",
        "start_workflow", "retrieve_workflow", "list_workflows", "cancel_workflow",
        "resume_workflow", "fork_workflow", "WorkflowHandle", "SetWorkflowID",
        "SetEnqueueOptions", "sleep", "workflow_id", "step_id", "logger", "DurableError",
        "Queue", "scheduled", "create_schedule", "list_schedules", "get_schedule",
        "pause_schedule", "resume_schedule", "trigger_schedule", "delete_schedule",
        "backfill_schedule", "apply_schedules", "ScheduleInput",
    }  # fmt: skip
    assert design_names <= set(durable.__all__)


def test_an_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        durable.no_such_name  # noqa: B018


def test_errors_derive_from_durable_error_and_the_builtin_a_caller_expects():
    assert issubclass(durable.RegistrationError, durable.DurableError)
    assert issubclass(durable.RegistrationError, ValueError)
    assert issubclass(durable.WorkflowNotFound, LookupError)
    assert issubclass(durable.WorkflowNotRegistered, LookupError)
    assert issubclass(durable.InvalidStateError, ValueError)
    assert issubclass(durable.WorkflowTimeout, TimeoutError)


def _python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_package_loads_no_models_and_needs_no_settings():
    out = _python("import django_durable, sys; print('django_durable.models' in sys.modules)")
    assert out == "False"


def test_importing_the_package_imports_neither_the_engine_nor_django_db():
    out = _python(
        "import django_durable, sys; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith('django_durable.') or m == 'django.db'))"
    )
    assert out == "[]"
