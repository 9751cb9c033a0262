"""A queue's settings as a value object, and the one validation every entry point shares.

``Queue(...)`` in code, ``register_queue``, the setters and the admin form all check their
values here. Pure Python: no database access.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

SETTING_NAMES = (
    "concurrency",
    "worker_concurrency",
    "limiter",
    "priority_enabled",
    "partition_queue",
    "polling_interval_sec",
)


@dataclass(frozen=True, kw_only=True)
class Limiter:
    """At most ``limit`` runs of a queue start in any rolling window of ``period`` seconds.

    Compares equal to the dict it was made from (``{"limit": 3, "period": 60.0}``), and
    reads like one (``limiter["limit"]``), as DBOS's ``QueueRateLimit`` does.
    """

    limit: int
    """Runs allowed to start per window."""
    period: float
    """Length of the window in seconds."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(other) == self.as_dict()
        if isinstance(other, Limiter):
            return (self.limit, self.period) == (other.limit, other.period)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.limit, self.period))

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "period": self.period}


@dataclass(frozen=True, kw_only=True)
class QueueSettings:
    """What a queue enforces; the limits apply per partition on a partitioned queue."""

    concurrency: int | None = None
    """Most runs executing at once across all processes; ``None``: no limit."""
    worker_concurrency: int | None = None
    """Most runs executing at once in one process; ``None``: no limit."""
    limiter: Limiter | None = None
    """How many runs may start per rolling window."""
    priority_enabled: bool = False
    """Recorded for DBOS compatibility: lower priority numbers always run first."""
    partition_queue: bool = False
    """Every run has a partition key, and each partition has the limits to itself."""
    polling_interval_sec: float | None = None
    """How often idle workers look for runs; ``None``: ``DURABLE["POLL_INTERVAL"]``."""

    def as_declaration(self) -> dict[str, Any]:
        """The settings as JSON (what the queue table keeps of a code declaration)."""
        return {
            "concurrency": self.concurrency,
            "worker_concurrency": self.worker_concurrency,
            "limiter": self.limiter.as_dict() if self.limiter is not None else None,
            "priority_enabled": self.priority_enabled,
            "partition_queue": self.partition_queue,
            "polling_interval_sec": self.polling_interval_sec,
        }

    def as_row(self) -> dict[str, Any]:
        """The settings as ``WorkflowQueue`` field values."""
        return {
            "concurrency": self.concurrency,
            "worker_concurrency": self.worker_concurrency,
            "limiter_limit": self.limiter.limit if self.limiter is not None else None,
            "limiter_period": self.limiter.period if self.limiter is not None else None,
            "priority_enabled": self.priority_enabled,
            "partition_queue": self.partition_queue,
            "polling_interval_sec": self.polling_interval_sec,
        }

    def changed(self, **values: Any) -> QueueSettings:
        return replace(self, **values)


def _positive_int(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return f"{what} must be a positive int or None, got {value!r}."
    return None


def _limiter(value: Any) -> tuple[Limiter | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, Limiter):
        return value, None
    if not isinstance(value, Mapping) or set(value) != {"limit", "period"}:
        return None, (
            f"limiter must be a dict with exactly the keys 'limit' and 'period', got {value!r}."
        )
    limit, period = value["limit"], value["period"]
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        return None, f"limiter limit must be an int >= 1, got {limit!r}."
    if (
        isinstance(period, bool)
        or not isinstance(period, (int, float))
        or not math.isfinite(period)
        or period <= 0
    ):
        return None, f"limiter period must be a number of seconds > 0, got {period!r}."
    return Limiter(limit=limit, period=float(period)), None


def problems(values: Mapping[str, Any]) -> tuple[QueueSettings | None, dict[str, str]]:
    """``values`` (a subset of ``SETTING_NAMES``, the rest defaulted) as settings, or the
    problem with each bad one by name."""
    errors: dict[str, str] = {}
    unknown = sorted(set(values) - set(SETTING_NAMES))
    if unknown:
        errors["__all__"] = f"Unknown queue setting(s): {', '.join(unknown)}."
    for field in ("concurrency", "worker_concurrency"):
        problem = _positive_int(values.get(field), field)
        if problem:
            errors[field] = problem
    limiter, problem = _limiter(values.get("limiter"))
    if problem:
        errors["limiter"] = problem
    for field in ("priority_enabled", "partition_queue"):
        if not isinstance(values.get(field, False), bool):
            errors[field] = f"{field} must be True or False, got {values.get(field)!r}."
    interval = values.get("polling_interval_sec")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or not math.isfinite(interval)
        or interval <= 0
    ):
        errors["polling_interval_sec"] = (
            f"polling_interval_sec must be a number of seconds > 0 or None, got {interval!r}."
        )
    concurrency, per_worker = values.get("concurrency"), values.get("worker_concurrency")
    if (
        not errors
        and concurrency is not None
        and per_worker is not None
        and per_worker > concurrency
    ):
        errors["worker_concurrency"] = (
            f"worker_concurrency ({per_worker}) cannot be above concurrency ({concurrency})."
        )
    if errors:
        return None, errors
    return (
        QueueSettings(
            concurrency=concurrency,
            worker_concurrency=per_worker,
            limiter=limiter,
            priority_enabled=bool(values.get("priority_enabled", False)),
            partition_queue=bool(values.get("partition_queue", False)),
            polling_interval_sec=float(interval) if interval is not None else None,
        ),
        {},
    )


def check_name(name: Any) -> str | None:
    """Why ``name`` cannot name a queue, or ``None``."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return f"A queue name must be a non-empty string without surrounding spaces, got {name!r}."
    if len(name) > 255:
        return f"Queue name {name[:40]!r}... is {len(name)} characters; at most 255."
    return None
