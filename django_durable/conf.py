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


_executor_override: list[str] = []


def set_executor_id(value: str | None) -> None:
    """Give this process an executor id (``runscheduler --executor-id``); ``None`` resets."""
    _executor_override[:] = [value] if value else []


def executor_id() -> str:
    """This process's executor id: as set, ``DURABLE["EXECUTOR_ID"]``, or ``<host>:<pid>``."""
    if _executor_override:
        return _executor_override[0]
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
