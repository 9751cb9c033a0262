"""The ``DURABLE`` settings dict, read lazily and cached until settings change."""

from __future__ import annotations

import os
import socket
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from django_durable.exceptions import ConfigurationError

DEFAULTS: dict[str, Any] = {
    "EXECUTOR_ID": None,
    "POLL_INTERVAL": 1.0,
    "HEARTBEAT_INTERVAL": 5.0,
    "DEAD_EXECUTOR_TIMEOUT": 30.0,
    "MAX_BACKFILL": 1000,
    "MAX_CONTEXT_BYTES": 65536,
    "DATABASE": "default",
    "CHECKPOINT_HOLD": 0.05,
    "TRACING": False,
    "APPLICATION_VERSION": None,
    "PARK_THRESHOLD": 5.0,
}


@cache
def get_settings() -> dict[str, Any]:
    """Return ``DEFAULTS`` updated with the project's ``DURABLE`` dict."""
    user = getattr(settings, "DURABLE", None) or {}
    merged = dict(DEFAULTS)
    merged.update(user)
    return merged


def get(key: str) -> Any:
    """Return one setting; ``key`` must be one of ``DEFAULTS``."""
    return get_settings()[key]


def database_alias() -> str:
    """The database alias that holds runs, steps and schedules."""
    return str(get("DATABASE"))


def application_version() -> str | None:
    """The version of the code this process runs (``DURABLE["APPLICATION_VERSION"]``), or
    ``None``: runs record it, and a worker with a version runs only runs of its version
    (and unversioned ones)."""
    version = get("APPLICATION_VERSION")
    return str(version) if version is not None and version != "" else None


def park_threshold() -> float | None:
    """Seconds a queued run may wait in place (``sleep``, ``recv``, ``get_event``) before
    it parks and gives its worker slot back; ``None``: never park."""
    value = get("PARK_THRESHOLD")
    return None if value is None else float(value)


def max_context_bytes() -> int:
    """``MAX_CONTEXT_BYTES``: the largest schedule context, in bytes of compact JSON."""
    value = get("MAX_CONTEXT_BYTES")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"MAX_CONTEXT_BYTES must be an int >= 1, got {value!r}.")
    return value


def unknown_keys() -> list[str]:
    """Keys of the project's ``DURABLE`` dict that this version does not know."""
    user = getattr(settings, "DURABLE", None) or {}
    return sorted(set(user) - set(DEFAULTS))


def executor_id() -> str:
    """The configured executor id: ``DURABLE["EXECUTOR_ID"]``, or ``<host>:<pid>``. A
    runtime (``runscheduler --executor-id``) may run under another one."""
    configured = get("EXECUTOR_ID")
    if configured:
        return str(configured)
    return _host_and_pid()


def _host_and_pid() -> str:
    pid = os.getpid()
    if _default_id[0] != pid:  # computed once per process (and again after a fork)
        _default_id[:] = [pid, f"{socket.gethostname()}:{pid}"]
    return str(_default_id[1])


_default_id: list[Any] = [None, None]


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting == "DURABLE":
        get_settings.cache_clear()
