"""``@workflow``, ``@step``, ``@transaction``, ``@durable_class`` and ``ConfiguredInstance``."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any, TypeVar

from django_durable import registry
from django_durable.engine import calls, steps, transactions
from django_durable.engine.retries import StepOptions
from django_durable.exceptions import ConfigurationError, RegistrationError
from django_durable.registry import FuncType, WorkflowInfo

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

ISOLATION_LEVELS = ("READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")


_KINDS = {
    "__durable_workflow__": "workflow",
    "__durable_step__": "step",
    "__durable_transaction__": "transaction",
}


def _plain_function(func: Any, decorator: str) -> Callable[..., Any]:
    if isinstance(func, (staticmethod, classmethod)):
        raise RegistrationError(
            f"@{decorator}() on {func.__func__.__qualname__} must be applied below "
            f"@{type(func).__name__}, directly on the function."
        )
    if not callable(func):
        raise RegistrationError(f"@{decorator}() decorates functions, not {func!r}.")
    for marker, kind in _KINDS.items():
        if getattr(func, marker, None) is not None:
            raise RegistrationError(
                f"@{decorator}() cannot be stacked on @{kind}() ({func.__qualname__}): a "
                f"function is one of workflow, step or transaction."
            )
    return func  # type: ignore[no-any-return]


def workflow(name: str | None = None, max_recovery_attempts: int | None = 100) -> Callable[[F], F]:
    """Make a function durable: each call is a run whose steps are checkpointed.

    ``max_recovery_attempts``: how often a run may be recovered after its process died
    before it is given up (``None``: without limit).
    """
    if callable(name):  # used as @workflow without parentheses
        return workflow()(name)
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(f"workflow name must be a non-empty string, got {name!r}.")
    if max_recovery_attempts is not None and (
        isinstance(max_recovery_attempts, bool)
        or not isinstance(max_recovery_attempts, int)
        or max_recovery_attempts < 1
    ):
        raise ConfigurationError(
            f"max_recovery_attempts must be an int >= 1 or None, got {max_recovery_attempts!r}."
        )

    def decorate(func: F) -> F:
        fn = _plain_function(func, "workflow")
        info = WorkflowInfo(
            name=name or fn.__qualname__,
            func=fn,
            module=fn.__module__,
            is_async=inspect.iscoroutinefunction(fn),
            max_recovery_attempts=max_recovery_attempts,
            explicit_name=name is not None,
        )
        wrapper: Any
        if info.is_async:
            # Inside a workflow, numbered as it starts: gathered calls start in call order.
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                return await calls.call_async(info, args, kwargs)

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return calls.call(info, args, kwargs)

        functools.update_wrapper(wrapper, fn)
        wrapper.__durable_workflow__ = info
        if not registry.is_method_qualname(fn.__qualname__):
            registry.register_workflow(info)  # methods register with their @durable_class
        return wrapper  # type: ignore[no-any-return]

    return decorate


def step(
    name: str | None = None,
    retries_allowed: bool = False,
    max_attempts: int = 3,
    interval_seconds: float = 1.0,
    backoff_rate: float = 2.0,
    should_retry: Callable[[BaseException], bool] | None = None,
    timeout_seconds: float | None = None,
) -> Callable[[F], F]:
    """Checkpoint a function's outcome inside a workflow; outside one it is a plain call.

    ``timeout_seconds`` (``async def`` steps only; a thread cannot be stopped): each
    attempt is cancelled after that long and fails with ``StepTimeout``.
    """
    if callable(name):
        return step()(name)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ConfigurationError(f"max_attempts must be an int >= 1, got {max_attempts!r}.")
    if not isinstance(interval_seconds, (int, float)) or interval_seconds < 0:
        raise ConfigurationError(f"interval_seconds must be >= 0, got {interval_seconds!r}.")
    if not isinstance(backoff_rate, (int, float)) or backoff_rate <= 0:
        raise ConfigurationError(f"backoff_rate must be > 0, got {backoff_rate!r}.")
    if should_retry is not None and not callable(should_retry):
        raise ConfigurationError(f"should_retry must be callable, got {should_retry!r}.")
    if timeout_seconds is not None and (
        isinstance(timeout_seconds, bool)
        or not isinstance(timeout_seconds, (int, float))
        or not math.isfinite(timeout_seconds)
        or timeout_seconds <= 0
    ):
        raise ConfigurationError(
            f"timeout_seconds must be a number of seconds > 0, got {timeout_seconds!r}."
        )

    def decorate(func: F) -> F:
        fn = _plain_function(func, "step")
        is_async = inspect.iscoroutinefunction(fn)
        if should_retry is not None and not is_async and inspect.iscoroutinefunction(should_retry):
            raise ConfigurationError(
                f"should_retry of the sync step {fn.__qualname__} is an async function; "
                f"a sync step needs a sync should_retry (async steps may use either)."
            )
        if timeout_seconds is not None and not is_async:
            raise ConfigurationError(
                f"timeout_seconds is for async def steps; {fn.__qualname__} is sync and a "
                f"thread cannot be stopped from outside."
            )
        opts = StepOptions(
            name=name or fn.__qualname__,
            retries_allowed=retries_allowed,
            max_attempts=max_attempts,
            interval_seconds=float(interval_seconds),
            backoff_rate=float(backoff_rate),
            should_retry=should_retry,
            timeout_seconds=float(timeout_seconds) if timeout_seconds is not None else None,
        )
        wrapper: Any
        if is_async:
            # Numbered as it starts, before its first await: the tasks of asyncio.gather
            # (TaskGroup, create_task) start in the order they were created.
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                return await steps.call_async_step(opts, fn, args, kwargs)

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return steps.run_step(opts, fn, args, kwargs)

        functools.update_wrapper(wrapper, fn)
        wrapper.__durable_step__ = opts
        return wrapper  # type: ignore[no-any-return]

    return decorate


def transaction(isolation_level: str | None = None, using: str | None = None) -> Callable[[F], F]:
    """Run a function in ``transaction.atomic()`` and checkpoint it in the same transaction.

    ``isolation_level`` (PostgreSQL): READ COMMITTED, REPEATABLE READ or SERIALIZABLE; SQLite
    transactions are always serializable, so it is accepted and has no effect there.
    """
    if callable(isolation_level):
        return transaction()(isolation_level)
    if isolation_level is not None:
        normalized = " ".join(str(isolation_level).upper().replace("_", " ").split())
        if normalized not in ISOLATION_LEVELS:
            raise ConfigurationError(
                f"isolation_level must be one of {', '.join(ISOLATION_LEVELS)}; "
                f"got {isolation_level!r}."
            )
        isolation_level = normalized

    def decorate(func: F) -> F:
        fn = _plain_function(func, "transaction")
        if inspect.iscoroutinefunction(fn):
            raise RegistrationError(
                f"@transaction() needs a sync function; {fn.__qualname__} is async. "
                f"Call a sync transaction from the async workflow instead."
            )
        name = fn.__qualname__

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return transactions.run_transaction(name, isolation_level, using, fn, args, kwargs)

        functools.update_wrapper(wrapper, fn)
        wrapper.__durable_transaction__ = True  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def durable_class(class_name: str | None = None) -> Callable[[C], C]:
    """Register a class whose static, class or instance methods are workflows.

    The class registers under ``class_name`` or its ``__qualname__``; runs and schedules
    record that name. Instance-method workflows need a ``ConfiguredInstance`` subclass.
    """
    if isinstance(class_name, type):
        return durable_class()(class_name)
    if class_name is not None and (not isinstance(class_name, str) or not class_name):
        raise ConfigurationError(f"class_name must be a non-empty string, got {class_name!r}.")

    def decorate(cls: C) -> C:
        methods: list[tuple[str, FuncType, WorkflowInfo]] = []
        for attr_name, attr in vars(cls).items():
            if isinstance(attr, staticmethod):
                func, func_type = attr.__func__, FuncType.STATIC
            elif isinstance(attr, classmethod):
                func, func_type = attr.__func__, FuncType.CLASS
            else:
                func, func_type = attr, FuncType.INSTANCE
            info = getattr(func, "__durable_workflow__", None)
            if isinstance(info, WorkflowInfo):
                methods.append((attr_name, func_type, info))
        has_instance = any(t is FuncType.INSTANCE for _, t, _ in methods)
        if has_instance and not issubclass(cls, ConfiguredInstance):
            raise RegistrationError(
                f"{cls.__qualname__} has instance-method workflows, so it must inherit "
                f"from ConfiguredInstance (each instance needs a config_name)."
            )
        info = registry.register_class(cls, class_name or cls.__qualname__, methods)
        cls.__durable_class__ = info  # type: ignore[attr-defined]
        return cls

    return decorate


dbos_class = durable_class
"""Alias of ``durable_class`` under DBOS Transact's name, so its examples run unchanged."""


class ConfiguredInstance:
    """Base class for durable classes whose instance methods are workflows.

    Create every instance at import time with a ``config_name`` unique within its class, so
    a recovering process finds it under ``<class name>/<config name>``.
    """

    config_name: str

    def __init__(self, config_name: str) -> None:
        if not isinstance(config_name, str) or not config_name:
            raise RegistrationError(
                f"config_name must be a non-empty string, got {config_name!r}."
            )
        class_info = getattr(type(self), "__durable_class__", None)
        if class_info is None:
            raise RegistrationError(
                f"{type(self).__qualname__} must be decorated with @durable_class() "
                f"before instances are created."
            )
        registry.register_instance(class_info, config_name, self)
        self.config_name = config_name
