"""How a step with retries decides whether to try again, and how long to wait."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django_durable.exceptions import MaxStepRetriesExceeded

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class StepOptions:
    """How a ``@step`` runs and retries."""

    name: str
    """The step's recorded name."""
    retries_allowed: bool = False
    """Whether a failing attempt is retried."""
    max_attempts: int = 3
    """Attempts in all, when retries are allowed."""
    interval_seconds: float = 1.0
    """Pause before the second attempt."""
    backoff_rate: float = 2.0
    """Factor applied to the pause after each further attempt."""
    should_retry: Callable[[BaseException], Any] | None = None
    """Decides whether an error is worth another attempt (all are, by default); an
    ``async def`` for async steps."""
    timeout_seconds: float | None = None
    """An ``async def`` step's attempt is cancelled after this long (``StepTimeout``)."""


class Attempts:
    """The attempts of one step call: ``failed(exc, worth_retrying)`` after each error."""

    def __init__(self, opts: StepOptions, workflow_id: str) -> None:
        self.opts = opts
        self.workflow_id = workflow_id
        self.errors: list[BaseException] = []
        self.pause = opts.interval_seconds

    @property
    def retrying(self) -> bool:
        return self.opts.retries_allowed

    def failed(self, exc: Exception, worth_retrying: bool) -> float | None:
        """Record a failed attempt. The pause before the next attempt; ``None`` when the
        error must propagate as it is (``should_retry`` said no). Raises
        ``MaxStepRetriesExceeded`` after the last attempt."""
        if not worth_retrying:
            return None
        self.errors.append(exc)
        if len(self.errors) >= self.opts.max_attempts:
            raise MaxStepRetriesExceeded(self.opts.name, self.errors) from exc
        pause = self.pause
        self.pause *= self.opts.backoff_rate
        logger.info(
            "Step %s failed (attempt %d of %d), retrying in %.2fs: %r",
            self.opts.name,
            len(self.errors),
            self.opts.max_attempts,
            pause,
            exc,
            extra={"action": "step_retry", "workflow_id": self.workflow_id},
        )
        return pause
