"""Helpers for testing code that uses django_durable.

- ``run_until_idle()`` executes what is enqueued, as a worker would, until nothing is left.
- ``SchedulerClock`` (or ``tick(now)``) drives the scheduler with a clock the test controls.
- ``crash_after_step(n)`` makes the next run stop dead right after its step ``n`` is
  checkpointed, and ``recover(workflow_id)`` finishes it as a recovering worker would.

The pytest plugin ``django_durable.pytest_plugin`` (loaded automatically when pytest runs)
offers them as the fixtures ``durable_clock``, ``durable_run_until_idle`` and
``durable_crash_after_step``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Min
from django.utils import timezone

from django_durable import conf, registry
from django_durable.context import Checkpoint, RunContext
from django_durable.cron import Cron
from django_durable.engine import execution, runs
from django_durable.engine import runtime as runtimes
from django_durable.models import ScheduleStatus, WorkflowSchedule
from django_durable.scheduler import Scheduler
from django_durable.schedules import sync_code_schedules
from django_durable.worker import Worker

__all__ = [
    "CrashPoint",
    "SchedulerClock",
    "SimulatedCrash",
    "crash_after_step",
    "recover",
    "run_until_idle",
    "tick",
]


def run_until_idle(*, queues: Iterable[str] | None = None, concurrency: int = 4) -> int:
    """Execute the enqueued runs this process can execute until none is left; the count.

    Runs that those runs enqueue are executed too, and runs held back by a queue's
    concurrency or rate limit are waited for. The runs execute under this process's
    executor id, on a worker's threads (so they see only committed rows: use it in tests
    marked ``django_db(transaction=True)``), and this call returns once they have all
    finished. ``queues`` limits the queues served (the internal queue, which carries
    resumed and forked runs, is always served).
    """
    worker = Worker(
        queues=queues,
        concurrency=concurrency,
        runtime=runtimes.current(),
        batch=True,
        listen=False,
    )
    return worker.run()


# ---------------------------------------------------------------- the scheduler's clock


def tick(now: datetime | None = None, *, max_backfill: int | None = None) -> int:
    """Fire every schedule due at ``now`` (default: the current time), as one scheduler
    tick would; the number of slots enqueued. Slots older than a second before ``now``
    count as missed (enqueued only with ``automatic_backfill``)."""
    return Scheduler(listen=False, grace=1.0, max_backfill=max_backfill).tick(now)


class SchedulerClock:
    """A scheduler driven by a clock the test moves: nothing sleeps, every slot fires at
    its own instant, exactly as a scheduler running without pause would fire it.

    ``clock.now`` starts at ``start`` (default: the current time). Schedules created with
    the API get their first slot after the real current time; call ``place_schedules()``
    to move every active schedule to its first slot after ``clock.now`` instead (for a
    clock that starts at a fixed instant). Code-defined (``@scheduled``) schedules are
    written on the first ``tick()`` or ``advance()``, as a scheduler does when it starts.
    The clock is also a callable, so ``Scheduler(clock=clock)`` reads it.
    """

    def __init__(self, start: datetime | None = None, *, max_backfill: int | None = None):
        if start is not None and timezone.is_naive(start):
            raise ValueError(f"start must be an aware datetime, got {start!r}.")
        self.now: datetime = start if start is not None else timezone.now()
        """The clock's current time."""
        self.fired = 0
        """Slots enqueued by this clock's ticks so far."""
        self._scheduler = Scheduler(clock=self, listen=False, grace=0.0, max_backfill=max_backfill)
        self._synced = False

    def __call__(self) -> datetime:
        return self.now

    def __repr__(self) -> str:
        return f"SchedulerClock(now={self.now.isoformat()})"

    def place_schedules(self) -> int:
        """Move every active schedule's next fire to its first slot after ``now``; the count."""
        self._sync()
        moved = 0
        for row in self._active():
            cron = Cron.parse(row.schedule, row.cron_timezone or None)
            row.next_fire_at = cron.next_after(self.now)
            row.save(update_fields=["next_fire_at"])
            moved += 1
        return moved

    def tick(self) -> int:
        """Fire what is due at ``now``; the number of slots enqueued."""
        self._sync()
        fired = self._scheduler.tick(self.now)
        self.fired += fired
        return fired

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> int:
        """Move the clock forward by ``delta`` (or ``timedelta(**kwargs)``), firing each slot
        due on the way at its own instant; the number of slots enqueued."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError(f"The clock only moves forward; got {step!r}.")
        return self.advance_to(self.now + step)

    def advance_to(self, when: datetime) -> int:
        """Move the clock forward to ``when``, firing each slot due on the way."""
        if timezone.is_naive(when):
            raise ValueError(f"when must be an aware datetime, got {when!r}.")
        if when < self.now:
            raise ValueError(f"The clock only moves forward: {when} is before {self.now}.")
        fired = self.tick()
        while True:
            # After a tick at ``now`` nothing runnable is due at or before it: the next
            # instant is strictly later, so the loop ends.
            upcoming = self._active().filter(next_fire_at__gt=self.now, next_fire_at__lte=when)
            nearest = upcoming.aggregate(at=Min("next_fire_at"))["at"]
            if nearest is None:
                break
            self.now = nearest
            fired += self.tick()
        self.now = when
        return fired + self.tick()

    def _active(self) -> Any:
        using = conf.database_alias()
        return WorkflowSchedule.objects.using(using).filter(status=ScheduleStatus.ACTIVE)

    def _sync(self) -> None:
        if not self._synced:
            self._synced = True
            if registry.code_schedules():
                sync_code_schedules(self.now)


# ---------------------------------------------------------------- simulated crashes


class SimulatedCrash(BaseException):
    """Raised by ``crash_after_step``: the process "died" here. It is a ``BaseException``,
    so neither the workflow's own ``except Exception`` nor the engine records it: the run
    stays ``PENDING``, as after a real crash."""


@dataclass
class CrashPoint:
    """Where ``crash_after_step`` stopped a run."""

    step: int
    """The step after whose checkpoint the run stops."""
    workflow: str | None = None
    """Only runs of this registered workflow name stop (``None``: any run)."""
    workflow_id: str | None = None
    """The run that was stopped (``None`` until one was)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _observe(self, run: RunContext, checkpoint: Checkpoint) -> None:
        if checkpoint.step_number != self.step or (self.workflow and run.name != self.workflow):
            return
        with self._lock:
            if self.workflow_id is not None:
                return  # only the first matching run crashes
            self.workflow_id = run.workflow_id
        raise SimulatedCrash(
            f"Simulated crash of workflow {run.workflow_id} after step "
            f"{checkpoint.step_number} ({checkpoint.step_name})."
        )


@contextmanager
def crash_after_step(step: int, *, workflow: Any = None) -> Iterator[CrashPoint]:
    """Inside this block, the first run (of ``workflow``, a workflow function or registered
    name, if given) to checkpoint its step ``step`` raises ``SimulatedCrash`` right after
    that checkpoint has committed: its steps 1..``step`` are recorded, the rest never ran,
    and the run stays ``PENDING``. Call the workflow in the test's thread, catch
    ``SimulatedCrash`` (``pytest.raises``), then ``recover(point.workflow_id)``.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be an int >= 1, got {step!r}.")
    name = workflow if workflow is None or isinstance(workflow, str) else None
    if workflow is not None and name is None:
        name = registry.info_of(workflow)[0].name
    point = CrashPoint(step=step, workflow=name)
    observers = runtimes.current().checkpoint_observers
    observer: Callable[[RunContext, Checkpoint], None] = point._observe
    observers.append(observer)
    try:
        yield point
    finally:
        observers.remove(observer)


def recover(workflow_id: str) -> Any:
    """Finish a ``PENDING`` run of this process in the caller's thread, as a recovering
    worker would: recorded steps return their recorded outcome, the others run. Returns
    the run's result, or raises its error."""
    execution.execute_stored(workflow_id, runtimes.current())
    return runs.outcome(runs.fetch(workflow_id))
