"""Text output of ``manage.py durable``: aligned tables and readable values."""

from __future__ import annotations

import pprint
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.utils import timezone

from django_durable import error_records, serialization
from django_durable.exceptions import DurableError

EMPTY = "-"
"""What a missing value prints as."""


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` under ``headers``, each column left-aligned to its widest cell.

    The last column is not padded, so a long value there does not widen the others.
    """
    widths = [len(header) for header in headers]
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def local_time(value: datetime | None, zone: tzinfo | None = None) -> str:
    """``value`` in ``zone`` (default: the current timezone), to the second."""
    if value is None:
        return EMPTY
    shown = value.astimezone(zone) if zone is not None else timezone.localtime(value)
    return shown.strftime("%Y-%m-%d %H:%M:%S")


def zone_label() -> str:
    """The current timezone's name, to put in column headers."""
    return timezone.get_current_timezone_name()


def duration(seconds: float | None) -> str:
    """A duration for people: ``0.250s``, ``12m 05s``, ``3h 02m 05s``, ``2d 04h 10m``."""
    if seconds is None:
        return EMPTY
    if seconds < 60:
        return f"{seconds:.3f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def elapsed(start: datetime | None, end: datetime | None) -> str:
    """The duration from ``start`` to ``end``; ``-`` unless both are known."""
    if start is None or end is None:
        return EMPTY
    return duration(max(end - start, timedelta(0)).total_seconds())


def stored_value(text: str | None) -> Any:
    """A stored payload decoded, or the raw text when it cannot be read."""
    try:
        return serialization.loads(text)
    except DurableError:
        return text


def pretty(value: Any, width: int = 88) -> str:
    """``value`` as readable (possibly multi-line) Python."""
    return pprint.pformat(value, width=width, sort_dicts=False)


def one_line(text: str | None) -> str:
    """A stored payload decoded, as one line of Python."""
    if text is None:
        return EMPTY
    return repr(stored_value(text))


def error_line(text: str) -> str:
    """``type: message`` of a stored error, on one line."""
    kind, message = error_records.error_summary(text) or ("?", "")
    first = message.splitlines()[0] if message else ""
    return f"{kind}: {first}" if first else kind


def error_text(text: str) -> str:
    """A stored error as ``type: message`` followed by its recorded traceback."""
    kind, message = error_records.error_summary(text) or ("?", "")
    traceback = error_records.error_traceback(text)
    return f"{kind}: {message}\n\n{traceback}".rstrip()


def indent(text: str, prefix: str = "  ") -> str:
    """Every line of ``text`` indented by ``prefix``."""
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``[#########.....................]  30/100`` (``total`` > 0)."""
    filled = width * done // total
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total}"
