"""Tagged JSON for workflow arguments, step results and recorded errors.

This is a leaf layer: it knows nothing about the database. Everything the engine stores
goes through :func:`dumps` / :func:`loads` (values) and ``error_records`` (errors, built on this
module). Pickle is never used.

Plain JSON values (``None``, ``bool``, ``int``, ``float``, ``str``, ``list`` and ``dict``
with ``str`` keys) are stored as themselves. Other supported values are stored as tagged
objects ``{"__durable__": "<tag>", "v": <payload>}``:

==============  ==============================================================
tag             payload
==============  ==============================================================
``datetime``    ``{"iso": <ISO 8601 with microseconds and offset>}``, plus
                ``"tz": <zone key>`` for :class:`zoneinfo.ZoneInfo` datetimes
                and ``"fold": 1`` when the fold is set
``date``        ISO 8601 text
``time``        ISO 8601 text with microseconds (and offset when aware)
``timedelta``   ``[days, seconds, microseconds]``
``decimal``     ``str(value)`` (exact, keeps the exponent)
``uuid``        the canonical hyphenated text
``bytes``       standard base64 text
``tuple``       list of encoded items
``set``         list of encoded items in a deterministic order
``frozenset``   list of encoded items in a deterministic order
``dict``        list of ``[key, value]`` pairs, both encoded; used for dicts whose
                keys are not all strings and for dicts holding a ``"__durable__"`` key
==============  ==============================================================

Subclasses are stored as their base type: ``bool`` stays ``bool``; an ``int``, ``float``
or ``str`` subclass (for example an ``IntEnum`` or ``StrEnum`` member) is stored as its
plain value and loads back as a plain ``int``/``float``/``str``; a ``datetime`` subclass
loads as a ``datetime``; ``list``/``dict``/``tuple`` subclasses (``OrderedDict``,
named tuples...) load as the base container.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django_durable.exceptions import (
    SerializationError,
)

__all__ = [
    "TAG",
    "check_serializable",
    "dumps",
    "loads",
]

TAG = "__durable__"
_PAYLOAD = "v"
_ROOT = "value"
_UNKNOWN_TYPE = "unknown"
_MAX_KEY_REPR = 60
_MAX_ERROR_DEPTH = 20

JSONValue = Any  # what json.dumps accepts once encoded: plain types only


# --------------------------------------------------------------------------- encoding


def dumps(value: Any, *, where: str = _ROOT) -> str:
    """Return *value* as compact tagged JSON text.

    ``where`` names the value in error messages (``"args"`` gives ``at args[1]['x']``).
    Raises :class:`SerializationError` naming the type (and, for nested values, the
    location) of the first value that cannot be stored.
    """
    try:
        return _to_text(_encode(value, where, where, set()))
    except RecursionError as exc:
        raise SerializationError(f"{where} is nested too deeply to store as JSON") from exc


def check_serializable(value: Any, *, where: str = _ROOT) -> None:
    """Raise :class:`SerializationError` if :func:`dumps` would fail for *value*."""
    dumps(value, where=where)


def _to_text(encoded: JSONValue) -> str:
    text = json.dumps(encoded, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot be stored as UTF-8; \u escapes keep them intact.
        text = json.dumps(encoded, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text


def _type_path(tp: type) -> str:
    return f"{tp.__module__}.{tp.__qualname__}"


def _location(path: str, root: str) -> str:
    return "" if path == root else f" at {path}"


def _unsupported(value: Any, path: str, root: str) -> SerializationError:
    return SerializationError(
        f"cannot store a value of type {_type_path(type(value))!r} as JSON{_location(path, root)}"
    )


def _tagged(tag: str, payload: JSONValue) -> dict[str, JSONValue]:
    return {TAG: tag, _PAYLOAD: payload}


def _encode(value: Any, path: str, root: str, active: set[int]) -> JSONValue:
    """Encode *value* into plain JSON types; *active* holds ids of containers being encoded."""
    if value is None or isinstance(value, bool):
        return value
    scalar = _encode_scalar(value, path, root)
    if scalar is not _NOT_HANDLED:
        return scalar
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return _encode_container(value, path, root, active)
    raise _unsupported(value, path, root)


class _NotHandled:
    """Marker type: the scalar encoder does not handle this value."""


_NOT_HANDLED = _NotHandled()


def _encode_scalar(value: Any, path: str, root: str) -> JSONValue:
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return _encode_float(value, path, root)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, datetime):
        return _tagged("datetime", _datetime_payload(value))
    if isinstance(value, date):
        return _tagged("date", value.isoformat())
    if isinstance(value, time):
        return _tagged("time", value.isoformat(timespec="microseconds"))
    if isinstance(value, timedelta):
        return _tagged("timedelta", [value.days, value.seconds, value.microseconds])
    if isinstance(value, Decimal):
        return _tagged("decimal", str(value))
    if isinstance(value, uuid.UUID):
        return _tagged("uuid", str(value))
    if isinstance(value, bytes):
        return _tagged("bytes", base64.b64encode(value).decode("ascii"))
    return _NOT_HANDLED


def _encode_float(value: float, path: str, root: str) -> float:
    plain = float.__float__(value)
    if plain != plain or plain in (float("inf"), float("-inf")):
        raise SerializationError(
            f"cannot store the float value {plain!r} as JSON (NaN and infinity are not "
            f"portable){_location(path, root)}"
        )
    return plain


def _datetime_payload(value: datetime) -> dict[str, Any]:
    payload: dict[str, Any] = {"iso": value.isoformat(timespec="microseconds")}
    if isinstance(value.tzinfo, ZoneInfo) and value.tzinfo.key is not None:
        payload["tz"] = value.tzinfo.key
    if value.fold:
        payload["fold"] = 1
    return payload


def _encode_container(value: Any, path: str, root: str, active: set[int]) -> JSONValue:
    marker = id(value)
    if marker in active:
        raise SerializationError(f"cannot store a circular reference as JSON at {path}")
    active.add(marker)
    try:
        return _encode_container_items(value, path, root, active)
    finally:
        active.discard(marker)


def _encode_container_items(value: Any, path: str, root: str, active: set[int]) -> JSONValue:
    if isinstance(value, list):
        return _encode_items(value, path, root, active)
    if isinstance(value, tuple):
        return _tagged("tuple", _encode_items(value, path, root, active))
    if isinstance(value, (set, frozenset)):
        tag = "frozenset" if isinstance(value, frozenset) else "set"
        return _tagged(tag, _encode_set_items(value, path, root, active))
    return _encode_dict(value, path, root, active)


def _encode_items(items: Iterable[Any], path: str, root: str, active: set[int]) -> list[Any]:
    return [_encode(item, f"{path}[{index}]", root, active) for index, item in enumerate(items)]


def _encode_set_items(
    value: set[Any] | frozenset[Any], path: str, root: str, active: set[int]
) -> list[Any]:
    """Encode set members in a deterministic order.

    Numbers and strings are sorted by value; any other mix (where ``<`` may be missing or
    only a partial order, e.g. sets of frozensets) is sorted by the members' JSON text.
    """
    items = _naturally_sorted(value)
    encoded = [
        _encode(item, f"{path}{{#{index}}}", root, active) for index, item in enumerate(items)
    ]
    if items is value:
        encoded.sort(key=_to_text)
    return encoded


def _naturally_sorted(value: set[Any] | frozenset[Any]) -> Iterable[Any]:
    numbers = all(isinstance(item, (int, float, Decimal)) for item in value)
    if numbers or all(isinstance(item, str) for item in value):
        try:
            return sorted(value)
        except (TypeError, ArithmeticError):  # e.g. Decimal("NaN") refuses to compare
            pass
    return value


def _encode_dict(value: dict[Any, Any], path: str, root: str, active: set[int]) -> JSONValue:
    if all(isinstance(key, str) for key in value) and TAG not in value:
        return {
            str.__str__(key): _encode(item, f"{path}[{key!r}]", root, active)
            for key, item in value.items()
        }
    return _tagged("dict", _encode_pairs(value, path, root, active))


def _encode_pairs(
    value: dict[Any, Any], path: str, root: str, active: set[int]
) -> list[list[Any]]:
    pairs = []
    for index, (key, item) in enumerate(value.items()):
        key_repr = _short_repr(key)
        encoded_key = _encode(key, f"{path}<key #{index}>", root, active)
        pairs.append([encoded_key, _encode(item, f"{path}[{key_repr}]", root, active)])
    return pairs


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(value).__qualname__}>"
    return text if len(text) <= _MAX_KEY_REPR else text[: _MAX_KEY_REPR - 3] + "..."


# --------------------------------------------------------------------------- decoding


def loads(text: str | None) -> Any:
    """Return the value stored by :func:`dumps`; ``None`` gives ``None``.

    Raises :class:`SerializationError` for text that is not JSON, holds NaN/Infinity,
    or has an unknown or malformed tag.
    """
    if text is None:
        return None
    try:
        return _decode(_parse(text))
    except RecursionError as exc:
        raise SerializationError("stored value is nested too deeply to read") from exc


def _reject_constant(name: str) -> Any:
    raise SerializationError(f"stored JSON holds the non-portable value {name}")


def _parse(text: str) -> JSONValue:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, TypeError) as exc:
        if isinstance(exc, SerializationError):
            raise
        raise SerializationError(f"stored value is not valid JSON: {exc}") from exc


def _decode(node: JSONValue) -> Any:
    if isinstance(node, list):
        return [_decode(item) for item in node]
    if isinstance(node, dict):
        if TAG in node:
            return _decode_tagged(node)
        return {key: _decode(item) for key, item in node.items()}
    return node


def _decode_tagged(node: dict[str, Any]) -> Any:
    tag = node[TAG]
    decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
    if decoder is None:
        raise SerializationError(f"stored value has an unknown tag {tag!r}")
    if set(node) != {TAG, _PAYLOAD}:
        raise SerializationError(f"stored {tag!r} value must have exactly the keys {TAG!r}, 'v'")
    try:
        return decoder(node[_PAYLOAD])
    except SerializationError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError, ArithmeticError) as exc:
        raise SerializationError(f"stored {tag!r} value is malformed: {exc}") from exc


def _require(payload: Any, kind: type) -> Any:
    if not isinstance(payload, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(payload).__name__}")
    return payload


def _decode_datetime(payload: Any) -> datetime:
    fields = _require(payload, dict)
    value = datetime.fromisoformat(_require(fields["iso"], str))
    zone = _zone(fields.get("tz"))
    if zone is not None and value.tzinfo is not None:
        try:
            # Converting the instant (not replacing tzinfo) also restores the fold.
            return value.astimezone(zone)
        except (OverflowError, ValueError):
            pass  # keep the recorded fixed offset
    if fields.get("fold") == 1:
        value = value.replace(fold=1)
    return value


def _zone(key: Any) -> ZoneInfo | None:
    """The zone named *key*, or ``None`` when absent or unknown here (the offset is kept)."""
    if not isinstance(key, str):
        return None
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _decode_timedelta(payload: Any) -> timedelta:
    days, seconds, microseconds = _require(payload, list)
    return timedelta(days=days, seconds=seconds, microseconds=microseconds)


def _decode_bytes(payload: Any) -> bytes:
    try:
        return base64.b64decode(_require(payload, str), validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc


def _decode_items(payload: Any) -> list[Any]:
    return [_decode(item) for item in _require(payload, list)]


def _decode_dict(payload: Any) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for pair in _require(payload, list):
        key, item = _require(pair, list)
        result[_decode(key)] = _decode(item)
    return result


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": _decode_datetime,
    "date": lambda payload: date.fromisoformat(_require(payload, str)),
    "time": lambda payload: time.fromisoformat(_require(payload, str)),
    "timedelta": _decode_timedelta,
    "decimal": lambda payload: Decimal(_require(payload, str)),
    "uuid": lambda payload: uuid.UUID(_require(payload, str)),
    "bytes": _decode_bytes,
    "tuple": lambda payload: tuple(_decode_items(payload)),
    "set": lambda payload: set(_decode_items(payload)),
    "frozenset": lambda payload: frozenset(_decode_items(payload)),
    "dict": _decode_dict,
}
