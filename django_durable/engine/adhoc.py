"""``run_step``: run any function as a step of the current workflow, without decorating it.

The function is wrapped by ``@step`` (with the options given, if any), so it is numbered,
checkpointed, retried and replayed exactly like a decorated step; outside a workflow it is
a plain call. A function that is already a step, a transaction or a workflow is called
as it is (it records itself).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from django_durable.engine import decorators, steps
from django_durable.engine import runtime as runtimes
from django_durable.exceptions import ConfigurationError, InvalidStateError

OPTION_NAMES = frozenset(
    {
        "name",
        "retries_allowed",
        "max_attempts",
        "interval_seconds",
        "backoff_rate",
        "should_retry",
        "timeout_seconds",
    }
)
_MARKERS = ("__durable_step__", "__durable_workflow__", "__durable_transaction__")


def as_step(
    fn: Callable[..., Any], options: Mapping[str, Any] | None = None
) -> Callable[..., Any]:
    """``fn`` as a step with ``options`` (``@step``'s keyword arguments)."""
    if not callable(fn):
        raise TypeError(f"run_step needs a function, got {fn!r}.")
    if any(getattr(fn, marker, None) is not None for marker in _MARKERS):
        return fn
    given = dict(options or {})
    unknown = sorted(set(given) - OPTION_NAMES)
    if unknown:
        raise ConfigurationError(
            f"Unknown step option(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(sorted(OPTION_NAMES))}."
        )
    given.setdefault("name", getattr(fn, "__qualname__", None) or repr(fn))
    return decorators.step(**given)(fn)


def run_step(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` as a step of the workflow calling it (recorded under
    ``fn``'s qualified name, replayed from its checkpoint); a plain call elsewhere. An
    ``async def`` function needs ``run_step_async``."""
    if inspect.iscoroutinefunction(fn):
        raise InvalidStateError(
            f"{getattr(fn, '__qualname__', fn)} is async; use 'await run_step_async(...)'."
        )
    return as_step(fn)(*args, **kwargs)


async def run_step_async(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``run_step`` for coroutines: an ``async def`` function is awaited on the loop, a
    sync one runs on a thread of the runtime (numbered here, in call order)."""
    return await call_async(as_step(fn), args, kwargs)


async def call_async(step: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Await a step (an ``async def`` one directly; a sync one off the event loop)."""
    if inspect.iscoroutinefunction(step):
        return await step(*args, **kwargs)
    opts = getattr(step, "__durable_step__", None)
    run = steps.durable_run()
    if run is None or opts is None:
        return await runtimes.current().run_sync(lambda: step(*args, **kwargs))
    number = run.next_number()
    func = getattr(step, "__wrapped__", step)
    return await run.runtime.run_sync(
        lambda: steps.execute(run, number, opts.name, lambda: func(*args, **kwargs), opts=opts)
    )
