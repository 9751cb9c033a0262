"""Recorded errors: an exception as JSON text (type path, message, args, traceback and
nested errors), and back.

A leaf: nothing here touches the database, and nothing read back ever imports a module.
Only ``Exception`` subclasses are rebuilt as themselves; anything else (``SystemExit``,
``KeyboardInterrupt``, an unknown type) comes back as ``RecordedError``, so re-raising a
stored error can never stop the process that reads it.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from django_durable.exceptions import MaxStepRetriesExceeded, RecordedError, SerializationError
from django_durable.serialization import (
    _PAYLOAD,
    _decode_items,
    _encode,
    _short_repr,
    _to_text,
    _type_path,
)

_UNKNOWN_TYPE = "unknown"
_MAX_ERROR_DEPTH = 20


def encode_exception(exc: BaseException) -> str:
    """Return JSON text recording *exc*: type path, message, args, traceback (and errors).

    ``args`` is ``null`` when the exception's args cannot be stored. If the exception
    has an ``errors`` list of exceptions (like :class:`MaxStepRetriesExceeded`), each is
    recorded under ``"errors"`` the same way.
    """
    return _to_text(_exception_record(exc, 0))


def _exception_record(exc: BaseException, depth: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": _type_path(type(exc)),
        "message": _message(exc),
        "args": _encoded_args(exc.args),
        "traceback": _traceback_text(exc),
    }
    if isinstance(exc, RecordedError):
        # Raised again unchanged: record the original error, not the stand-in.
        record["type"] = exc.type_path
        record["message"] = exc.message
        record["args"] = _encoded_args(exc.error_args)
    if isinstance(exc, MaxStepRetriesExceeded) and isinstance(exc.step_name, str):
        record["step_name"] = exc.step_name
    errors = _nested_errors(exc)
    if errors is not None and depth < _MAX_ERROR_DEPTH:
        record["errors"] = [_exception_record(error, depth + 1) for error in errors]
    return record


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not stop the error from being recorded
        return f"<unprintable {type(exc).__qualname__} object>"


def _encoded_args(args: Iterable[Any]) -> list[Any] | None:
    try:
        encoded = _encode(tuple(args), "args", "args", set())
    except (SerializationError, RecursionError):
        return None
    return list(encoded[_PAYLOAD])


def _traceback_text(exc: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception(exc))
    except Exception:  # formatting must never hide the error being recorded
        text = f"{_type_path(type(exc))}: {_message(exc)}\n"
    recorded = getattr(exc, "durable_traceback", None)
    if not recorded and isinstance(exc, RecordedError):
        recorded = exc.traceback_text
    if isinstance(recorded, str) and recorded and recorded not in text:
        text = f"{recorded}\nThe error above was recorded earlier and raised again:\n\n{text}"
    return text


def _nested_errors(exc: BaseException) -> list[BaseException] | None:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and all(isinstance(error, BaseException) for error in errors):
        return errors
    return None


def decode_exception(text: str) -> BaseException:
    """Rebuild an exception recorded by :func:`encode_exception`.

    The original type is rebuilt only when its module is already imported (stored data
    never causes an import), the path names an :class:`Exception` subclass, args were
    recorded and ``cls(*args)`` succeeds. Otherwise a :class:`RecordedError` carrying the
    recorded type path, message, args and traceback is returned. The result always has
    ``durable_traceback`` set to the recorded traceback text.
    """
    return _rebuild(_read_record(text), 0)


def error_summary(text: str | None) -> tuple[str, str] | None:
    """Return ``(type path, message)`` of a stored error without rebuilding it."""
    if not text:
        return None
    record = _read_record(text)
    return _text_field(record, "type", _UNKNOWN_TYPE), _text_field(record, "message", "")


def error_traceback(text: str | None) -> str:
    """Return the traceback text recorded with a stored error (``""`` if none)."""
    if not text:
        return ""
    return _text_field(_read_record(text), "traceback", "")


def _read_record(text: str) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except (ValueError, TypeError):
        record = None
    if isinstance(record, dict):
        return record
    return {"type": _UNKNOWN_TYPE, "message": f"unreadable stored error: {_short_repr(text)}"}


def _text_field(record: dict[str, Any], name: str, default: str) -> str:
    value = record.get(name)
    return value if isinstance(value, str) else default


def _rebuild(record: dict[str, Any], depth: int) -> BaseException:
    type_path = _text_field(record, "type", _UNKNOWN_TYPE)
    message = _text_field(record, "message", "")
    traceback_text = _text_field(record, "traceback", "")
    args = _decoded_args(record.get("args"))
    errors = _decoded_errors(record.get("errors"), depth)
    cls = _resolve_exception_class(type_path)
    exc = _instantiate(cls, args, errors, record) if cls is not None else None
    if exc is None:
        exc = RecordedError(type_path, message, args or [], traceback_text)
        if errors is not None:
            exc.errors = errors  # type: ignore[attr-defined]
    exc.durable_traceback = traceback_text  # type: ignore[attr-defined]
    return exc


def _decoded_args(stored: Any) -> list[Any] | None:
    if not isinstance(stored, list):
        return None
    try:
        return _decode_items(stored)
    except SerializationError:
        return None


def _decoded_errors(stored: Any, depth: int) -> list[BaseException] | None:
    if not isinstance(stored, list) or depth >= _MAX_ERROR_DEPTH:
        return None
    return [_rebuild(_as_record(item), depth + 1) for item in stored]


def _as_record(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    return {"type": _UNKNOWN_TYPE, "message": f"unreadable stored error: {_short_repr(item)}"}


def _instantiate(
    cls: type[BaseException],
    args: list[Any] | None,
    errors: list[BaseException] | None,
    record: dict[str, Any],
) -> BaseException | None:
    if cls is MaxStepRetriesExceeded:
        step_name = record.get("step_name")
        if isinstance(step_name, str) and errors is not None:
            return MaxStepRetriesExceeded(step_name, errors)
    if args is None:
        return None
    try:
        return cls(*args)
    except Exception:  # any failure means the type cannot be rebuilt from its args
        return None


def _resolve_exception_class(type_path: str) -> type[BaseException] | None:
    """Find the class named *type_path* among already-imported modules, importing nothing."""
    parts = type_path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        found = _walk_static(module, parts[split:])
        if isinstance(found, type) and issubclass(found, Exception):
            return found
    return None


def _walk_static(obj: Any, names: list[str]) -> Any:
    """Follow *names* through ``__dict__`` lookups only (no module ``__getattr__`` hooks)."""
    for name in names:
        try:
            namespace = vars(obj)
        except TypeError:
            return None
        if name not in namespace:
            return None
        obj = namespace[name]
    return obj
