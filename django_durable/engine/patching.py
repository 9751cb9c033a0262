"""Changing a workflow's code under runs in flight: ``patch`` and ``deprecate_patch``.

``if durable.patch("new-fee"):`` takes the new branch in runs that reach that point under
the new code, and the old branch in runs that already went past it under the old code.
The answer is a marker step named ``durable.patch-<name>``, at the position the call has
in the run:

- no step is recorded at that position yet: the run is new there, the marker is
  recorded, and ``patch`` returns ``True``;
- the marker is recorded there: a replay of a run that took the new branch (``True``);
- another step is recorded there: the run went past that point under the old code;
  ``patch`` returns ``False`` and takes no position, so the old branch replays exactly
  as recorded.

Once no run that went past the point under the old code is left, replace ``patch`` with
``deprecate_patch(name)``: it consumes a recorded marker (so runs that recorded it still
replay) but records none. When no run with the marker is left either, delete the call.

A marker recorded by DBOS Transact's spelling (``DBOS.patch-<name>``, what
``django_durable.dbos.DBOS.patch`` records) counts as the same patch.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from django_durable import context
from django_durable.context import Checkpoint, RunContext
from django_durable.engine import checkpoints, steps
from django_durable.exceptions import InvalidStateError

logger = logging.getLogger(__name__)

PREFIX = "durable.patch-"
DBOS_PREFIX = "DBOS.patch-"


def _markers(name: str) -> tuple[str, str]:
    return f"{PREFIX}{name}", f"{DBOS_PREFIX}{name}"


def _run_of(what: str, name: str) -> RunContext:
    if not isinstance(name, str) or not name:
        raise ValueError(f"A patch name must be a non-empty string, got {name!r}.")
    run = steps.durable_run()
    if run is None:
        where = "inside a step" if context.current() is not None else "outside a workflow"
        raise InvalidStateError(
            f"{what}({name!r}) was called {where}; call it from a workflow's body."
        )
    return run


def _take(run: RunContext, name: str, *, new_runs: bool) -> tuple[bool, int | None]:
    """Under the run's lock: ``(patched, number of a marker to record now or None)``.

    The position is consumed only when the marker is (or will be) there."""
    markers = _markers(name)
    with run.lock:
        number = run.last_number + 1
        recorded = run.recorded.get(number)
        if recorded is not None and recorded.step_name not in markers:
            return False, None  # went past this point under the old code
        if recorded is None and not new_runs:
            return True, None  # deprecated: no marker for new runs
        run.last_number = number
        return True, (number if recorded is None else None)


def _checkpoint(number: int, marker: str) -> Checkpoint:
    now = timezone.now()
    return Checkpoint(step_number=number, step_name=marker, started_at=now, completed_at=now)


def apply(name: str, prefix: str = PREFIX) -> bool:
    """``patch(name)``, recording the marker as ``<prefix><name>``."""
    run = _run_of("patch", name)
    patched, number = _take(run, name, new_runs=True)
    if number is not None:
        marker = _checkpoint(number, f"{prefix}{name}")
        if steps.in_event_loop():
            steps.off_loop(run, lambda: checkpoints.record_marker(run, marker))
        else:
            checkpoints.record_marker(run, marker)
        logger.debug(
            "Workflow %s takes patch %s (step %d)",
            run.workflow_id,
            name,
            number,
            extra={"action": "patch_recorded", "workflow_id": run.workflow_id},
        )
    return patched


async def apply_async(name: str, prefix: str = PREFIX) -> bool:
    """``patch_async(name)``, recording the marker as ``<prefix><name>``."""
    run = _run_of("patch_async", name)
    patched, number = _take(run, name, new_runs=True)
    if number is not None:
        marker = _checkpoint(number, f"{prefix}{name}")
        await run.runtime.run_sync(lambda: checkpoints.record_marker(run, marker))
    return patched


def patch(name: str) -> bool:
    """Inside a workflow: ``True`` where the run takes the code added under ``name``,
    ``False`` where it went past this point under the old code (see the module's doc)."""
    return apply(name)


async def patch_async(name: str) -> bool:
    """``patch`` for ``async def`` workflows."""
    return await apply_async(name)


def deprecate_patch(name: str) -> bool:
    """Inside a workflow: keep replaying runs that recorded the marker of ``name`` while
    recording it in no new run; always ``True`` (the patched code is the only code)."""
    _take(_run_of("deprecate_patch", name), name, new_runs=False)
    return True


async def deprecate_patch_async(name: str) -> bool:
    """``deprecate_patch`` for ``async def`` workflows."""
    return deprecate_patch(name)
