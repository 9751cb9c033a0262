"""Unit tests for django_durable.serialization (no database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from django_durable.error_records import decode_exception, encode_exception, error_summary
from django_durable.exceptions import (
    MaxStepRetriesExceeded,
    RecordedError,
    SerializationError,
)
from django_durable.serialization import check_serializable, dumps, loads

NEW_YORK = ZoneInfo("America/New_York")


class CustomError(Exception):
    """Module-level exception: its module is in sys.modules, so it can be rebuilt."""


class NeedsCodeError(Exception):
    """``__init__`` needs an argument that is not kept in ``args``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Colour(IntEnum):
    RED = 1


class Mood(StrEnum):
    HAPPY = "happy"


class Opaque:
    """A plain class: its instances cannot be stored."""


def roundtrip(value: Any) -> Any:
    return loads(dumps(value))


def raised(exc: BaseException) -> BaseException:
    """Return *exc* after raising it, so it carries a real traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def tag_of(text: str) -> str:
    return str(json.loads(text)["__durable__"])


# ------------------------------------------------------------------ plain JSON values


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -7, 2**80, 1.5, -0.25, "", "héllo ✓", [], {}, [1, "a", None]],
)
def test_plain_json_values_are_stored_as_themselves(value: Any) -> None:
    text = dumps(value)
    assert json.loads(text) == value
    result = loads(text)
    assert result == value
    assert type(result) is type(value)


def test_nested_plain_structure_is_stored_untagged_and_compact() -> None:
    value = {"a": [1, 2, {"b": None}], "c": "ü"}
    assert dumps(value) == '{"a":[1,2,{"b":null}],"c":"ü"}'
    assert loads(dumps(value)) == value


def test_loads_none_gives_none() -> None:
    assert loads(None) is None


def test_dict_key_order_is_kept() -> None:
    value = {"z": 1, "a": 2, "m": 3}
    assert list(roundtrip(value)) == ["z", "a", "m"]


# ------------------------------------------------------------------ datetimes


def test_naive_datetime_stays_naive_with_microseconds() -> None:
    value = datetime(2024, 3, 5, 6, 7, 8, 9)
    text = dumps(value)
    assert json.loads(text) == {
        "__durable__": "datetime",
        "v": {"iso": "2024-03-05T06:07:08.000009"},
    }
    result = loads(text)
    assert result == value
    assert result.tzinfo is None
    assert type(result) is datetime


def test_datetime_without_microseconds_still_stores_them() -> None:
    value = datetime(2024, 3, 5, 6, 7, 8)
    assert json.loads(dumps(value))["v"]["iso"] == "2024-03-05T06:07:08.000000"
    assert roundtrip(value) == value


def test_utc_datetime_roundtrips_with_utc() -> None:
    value = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    result = roundtrip(value)
    assert result == value
    assert result.utcoffset() == timedelta(0)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "offset",
    [timedelta(hours=5, minutes=30), timedelta(hours=-3), timedelta(hours=1, seconds=15)],
)
def test_fixed_offset_datetime_keeps_exact_offset(offset: timedelta) -> None:
    value = datetime(2024, 6, 1, 12, 0, 0, 1, tzinfo=timezone(offset))
    result = roundtrip(value)
    assert result == value
    assert result.utcoffset() == offset
    assert (result.hour, result.minute, result.microsecond) == (12, 0, 1)


@pytest.mark.parametrize(
    ("value", "offset_hours"),
    [
        (datetime(2024, 7, 4, 9, 30, tzinfo=NEW_YORK), -4),  # summer: EDT
        (datetime(2024, 1, 15, 9, 30, tzinfo=NEW_YORK), -5),  # winter: EST
    ],
)
def test_zoneinfo_datetime_keeps_zone(value: datetime, offset_hours: int) -> None:
    text = dumps(value)
    assert json.loads(text)["v"]["tz"] == "America/New_York"
    result = loads(text)
    assert result == value
    assert result.tzinfo is NEW_YORK
    assert result.utcoffset() == timedelta(hours=offset_hours)
    assert (result.hour, result.minute) == (9, 30)
    # Arithmetic in the zone still follows its rules after loading.
    assert (result + timedelta(days=180)).tzinfo is NEW_YORK


def test_zoneinfo_datetime_in_ambiguous_hour_keeps_fold() -> None:
    second = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)
    result = roundtrip(second)
    assert result.fold == 1
    assert result.utcoffset() == timedelta(hours=-5)
    assert result.tzinfo is NEW_YORK


def test_unknown_zone_key_falls_back_to_recorded_offset() -> None:
    text = json.dumps(
        {
            "__durable__": "datetime",
            "v": {"iso": "2024-07-04T09:30:00.000000-04:00", "tz": "Nowhere/Imaginary"},
        }
    )
    result = loads(text)
    assert result.utcoffset() == timedelta(hours=-4)
    assert result == datetime(2024, 7, 4, 13, 30, tzinfo=UTC)


def test_datetime_subclass_is_stored_as_datetime() -> None:
    class MyDateTime(datetime):
        pass

    value = MyDateTime(2024, 2, 29, 23, 59, tzinfo=UTC)
    result = roundtrip(value)
    assert type(result) is datetime
    assert result == value


def test_date_time_and_timedelta_roundtrip() -> None:
    value = [
        date(1999, 12, 31),
        time(23, 59, 58, 123),
        time(1, 2, 3, tzinfo=timezone(timedelta(hours=2))),
        timedelta(days=-3, seconds=5, microseconds=7),
    ]
    result = roundtrip(value)
    assert result == value
    assert [type(item) for item in result] == [date, time, time, timedelta]
    assert result[2].utcoffset() == timedelta(hours=2)
    assert [tag_of(dumps(item)) for item in value] == ["date", "time", "time", "timedelta"]


# ------------------------------------------------------------------ other scalars


def test_decimal_keeps_exponent_exactly() -> None:
    value = Decimal("1.10")
    text = dumps(value)
    assert json.loads(text) == {"__durable__": "decimal", "v": "1.10"}
    result = loads(text)
    assert type(result) is Decimal
    assert str(result) == "1.10"
    assert result.as_tuple() == value.as_tuple()


@pytest.mark.parametrize("text", ["0.1", "-0", "1E+3", "123456789012345678901234567890.5"])
def test_decimals_roundtrip_as_exact_text(text: str) -> None:
    assert str(roundtrip(Decimal(text))) == text


def test_uuid_roundtrips() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    text = dumps(value)
    assert json.loads(text)["v"] == "12345678-1234-5678-1234-567812345678"
    result = loads(text)
    assert type(result) is uuid.UUID
    assert result == value


def test_non_utf8_bytes_roundtrip() -> None:
    value = b"\xff\xfe\x00\x80abc"
    text = dumps(value)
    assert json.loads(text) == {"__durable__": "bytes", "v": "//4AgGFiYw=="}
    result = loads(text)
    assert type(result) is bytes
    assert result == value


def test_enum_members_are_stored_as_plain_values() -> None:
    text = dumps({"colour": Colour.RED, "mood": Mood.HAPPY, Mood.HAPPY: 1})
    assert text == '{"colour":1,"mood":"happy","happy":1}'
    result = loads(text)
    assert type(result["colour"]) is int
    assert type(result["mood"]) is str
    assert result == {"colour": 1, "mood": "happy", "happy": 1}


def test_bool_stays_bool() -> None:
    result = roundtrip([True, False, 1, 0])
    assert [type(item) for item in result] == [bool, bool, int, int]


# ------------------------------------------------------------------ containers


def test_nested_tuples_inside_dicts_inside_lists_keep_their_types() -> None:
    value = [{"pair": (1, (2, "x")), "list": [3, [4]]}, ((),)]
    result = roundtrip(value)
    assert result == value
    assert type(result) is list
    assert type(result[0]["pair"]) is tuple
    assert type(result[0]["pair"][1]) is tuple
    assert type(result[0]["list"]) is list
    assert type(result[0]["list"][1]) is list
    assert type(result[1]) is tuple
    assert type(result[1][0]) is tuple


def test_set_and_frozenset_roundtrip_with_types() -> None:
    value: tuple[set[int], frozenset[str], set[int]] = ({3, 1, 2}, frozenset({"b", "a"}), set())
    result = roundtrip(value)
    assert result == value
    assert [type(item) for item in result] == [set, frozenset, set]


def test_set_text_is_sorted_and_deterministic() -> None:
    assert dumps({3, 10, 1, 2}) == '{"__durable__":"set","v":[1,2,3,10]}'
    words = ["pear", "apple", "fig", "kiwi", "banana"]
    assert json.loads(dumps(frozenset(words)))["v"] == sorted(words)


def test_set_text_does_not_depend_on_hash_seed() -> None:
    code = (
        "from django_durable.serialization import dumps;"
        "print(dumps([{'pear', 'apple', 'fig', 'kiwi'}, {1, 'a', (2, 'b'), None}]))"
    )
    texts = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(texts) == 1
    assert '"v":["apple","fig","kiwi","pear"]' in texts.pop()


def test_unorderable_set_members_still_give_deterministic_text() -> None:
    first = {1, "a", (2, 3), None}
    second = {None, (2, 3), "a", 1}
    assert dumps(first) == dumps(second)
    assert roundtrip(first) == first
    nested = {frozenset({1}), frozenset({2}), frozenset({1, 2})}
    assert roundtrip(nested) == nested


def test_dict_with_int_keys_roundtrips() -> None:
    value = {1: "one", 2: ["two"], -3: None}
    text = dumps(value)
    assert json.loads(text)["__durable__"] == "dict"
    result = loads(text)
    assert result == value
    assert all(type(key) is int for key in result)
    assert list(result) == [1, 2, -3]


def test_dict_with_mixed_and_complex_keys_roundtrips() -> None:
    value = {"s": 1, 2: 2, (1, "t"): 3, date(2024, 1, 1): 4, None: 5, frozenset({1}): 6}
    result = roundtrip(value)
    assert result == value
    assert type(next(key for key in result if isinstance(key, tuple))) is tuple


def test_dict_with_durable_key_is_escaped() -> None:
    value = {"__durable__": "tuple", "v": [1, 2]}
    text = dumps(value)
    assert json.loads(text)["__durable__"] == "dict"
    result = loads(text)
    assert result == value
    assert type(result) is dict
    assert type(result["v"]) is list


def test_nested_dict_with_durable_key_is_escaped() -> None:
    value = {"outer": [{"__durable__": "bytes", "v": "AA=="}]}
    assert roundtrip(value) == value


def test_dict_and_tuple_subclasses_load_as_base_types() -> None:
    value = {"ordered": OrderedDict(a=1), "dt": datetime(2020, 1, 1)}
    result = roundtrip(value)
    assert type(result["ordered"]) is dict
    assert result == {"ordered": {"a": 1}, "dt": datetime(2020, 1, 1)}


def test_lone_surrogate_string_roundtrips_and_text_is_utf8_encodable() -> None:
    value = "bad \udcff end"
    text = dumps(value)
    text.encode("utf-8")  # would raise if the surrogate were written raw
    assert "\\udcff" in text
    assert loads(text) == value


# ------------------------------------------------------------------ rejected values


def test_object_instance_is_rejected_naming_type() -> None:
    with pytest.raises(SerializationError) as info:
        dumps(object())
    assert str(info.value) == "cannot store a value of type 'builtins.object' as JSON"


def test_lambda_is_rejected_naming_type_and_path() -> None:
    with pytest.raises(SerializationError) as info:
        dumps([1, {"f": lambda: None}])
    assert "'builtins.function'" in str(info.value)
    assert str(info.value).endswith("at value[1]['f']")


def test_class_instance_is_rejected_with_full_type_path_and_location() -> None:
    with pytest.raises(SerializationError) as info:
        dumps((1, {"x": Opaque()}), where="args")
    assert Opaque.__module__.endswith("test_serialization")
    assert str(info.value) == (
        f"cannot store a value of type '{Opaque.__module__}.Opaque' as JSON at args[1]['x']"
    )


def test_check_serializable_raises_like_dumps() -> None:
    with pytest.raises(SerializationError) as info:
        check_serializable({"k": {1, Opaque()}}, where="kwargs")
    assert "Opaque'" in str(info.value)
    assert "at kwargs['k']" in str(info.value)
    check_serializable({"fine": [1, (2,)]})  # accepted: no exception


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_are_rejected_naming_value(value: float) -> None:
    with pytest.raises(SerializationError) as info:
        dumps({"x": [value]})
    assert repr(value) in str(info.value)
    assert "at value['x'][0]" in str(info.value)


def test_value_in_non_string_dict_key_is_located() -> None:
    with pytest.raises(SerializationError) as info:
        dumps({1: {"deep": Opaque()}})
    assert "at value[1]['deep']" in str(info.value)


def test_unsupported_dict_key_is_rejected() -> None:
    with pytest.raises(SerializationError) as info:
        dumps({Opaque(): 1})
    assert "Opaque'" in str(info.value)
    assert "<key #0>" in str(info.value)


def test_bytearray_is_rejected() -> None:
    with pytest.raises(SerializationError, match=r"'builtins\.bytearray'"):
        dumps(bytearray(b"x"))


def test_circular_reference_is_rejected() -> None:
    value: list[Any] = [1]
    value.append(value)
    with pytest.raises(SerializationError, match=r"circular reference as JSON at value\[1\]"):
        dumps(value)


def test_too_deep_nesting_is_a_serialization_error() -> None:
    value: list[Any] = []
    for _ in range(sys.getrecursionlimit() + 10):
        value = [value]
    with pytest.raises(SerializationError, match="nested too deeply"):
        dumps(value)
    deep_text = "[" * (sys.getrecursionlimit() + 10) + "]" * (sys.getrecursionlimit() + 10)
    with pytest.raises(SerializationError, match="nested too deeply"):
        loads(deep_text)


def test_shared_non_circular_references_are_allowed() -> None:
    shared = [1, 2]
    assert roundtrip([shared, shared]) == [[1, 2], [1, 2]]


# ------------------------------------------------------------------ malformed stored text


@pytest.mark.parametrize(
    "text",
    [
        '{"__durable__":"pickle","v":"x"}',
        '{"__durable__":7,"v":1}',
        '{"__durable__":"tuple"}',
        '{"__durable__":"tuple","v":[1],"extra":1}',
        '{"__durable__":"bytes","v":"not base64!"}',
        '{"__durable__":"datetime","v":{"iso":"yesterday"}}',
        '{"__durable__":"set","v":[[1]]}',
        "{not json",
        "NaN",
    ],
)
def test_loads_rejects_unknown_or_malformed_text(text: str) -> None:
    with pytest.raises(SerializationError) as info:
        loads(text)
    assert str(info.value)


def test_unknown_tag_is_named_in_error() -> None:
    with pytest.raises(SerializationError, match="unknown tag 'pickle'"):
        loads('[{"__durable__":"pickle","v":"x"}]')


# ------------------------------------------------------------------ exceptions


def test_value_error_roundtrips_with_type_and_args() -> None:
    exc = raised(ValueError("bad value", 42))
    result = decode_exception(encode_exception(exc))
    assert type(result) is ValueError
    assert result.args == ("bad value", 42)


def test_key_error_roundtrips() -> None:
    exc = raised(KeyError("missing"))
    text = encode_exception(exc)
    assert json.loads(text)["message"] == "'missing'"
    result = decode_exception(text)
    assert type(result) is KeyError
    assert result.args == ("missing",)
    assert str(result) == "'missing'"


def test_encoded_exception_has_documented_fields() -> None:
    exc = raised(ValueError("x", (1, 2)))
    record = json.loads(encode_exception(exc))
    assert set(record) == {"type", "message", "args", "traceback"}
    assert record["type"] == "builtins.ValueError"
    assert record["message"] == "('x', (1, 2))"
    assert record["args"] == ["x", {"__durable__": "tuple", "v": [1, 2]}]
    assert record["traceback"].startswith("Traceback (most recent call last):")


def test_args_keep_tagged_types() -> None:
    exc = raised(CustomError((1, 2), Decimal("0.50")))
    result = decode_exception(encode_exception(exc))
    assert result.args == ((1, 2), Decimal("0.50"))
    assert type(result.args[0]) is tuple


def test_custom_module_level_exception_roundtrips() -> None:
    assert CustomError.__module__ in sys.modules
    exc = raised(CustomError("custom failure"))
    text = encode_exception(exc)
    assert json.loads(text)["type"] == f"{CustomError.__module__}.CustomError"
    result = decode_exception(text)
    assert type(result) is CustomError
    assert str(result) == "custom failure"


def test_exception_needing_unrecorded_init_args_becomes_recorded_error() -> None:
    exc = raised(NeedsCodeError("needs a code", 7))
    result = decode_exception(encode_exception(exc))
    assert type(result) is RecordedError
    assert result.type_path == f"{NeedsCodeError.__module__}.NeedsCodeError"
    assert result.message == "needs a code"
    assert result.error_args == ["needs a code"]
    assert str(result) == f"{NeedsCodeError.__module__}.NeedsCodeError: needs a code"


def test_type_from_module_not_imported_is_not_imported() -> None:
    assert "not_imported_mod_xyz" not in sys.modules
    text = json.dumps(
        {
            "type": "not_imported_mod_xyz.BoomError",
            "message": "boom",
            "args": ["boom"],
            "traceback": "Traceback: somewhere\n",
        }
    )
    result = decode_exception(text)
    assert type(result) is RecordedError
    assert result.type_path == "not_imported_mod_xyz.BoomError"
    assert result.message == "boom"
    assert result.error_args == ["boom"]
    assert "not_imported_mod_xyz" not in sys.modules


def test_submodule_of_imported_package_is_not_imported() -> None:
    name = "email.mime.nonexistent_durable_probe"
    assert name not in sys.modules
    result = decode_exception(
        json.dumps({"type": f"{name}.Oops", "message": "m", "args": [], "traceback": ""})
    )
    assert type(result) is RecordedError
    assert name not in sys.modules


def test_path_to_non_exception_is_not_called() -> None:
    text = json.dumps(
        {"type": "builtins.print", "message": "m", "args": ["side effect"], "traceback": ""}
    )
    result = decode_exception(text)
    assert type(result) is RecordedError
    assert result.type_path == "builtins.print"


def test_traceback_text_is_preserved() -> None:
    exc = raised(ValueError("with traceback"))
    text = encode_exception(exc)
    recorded = json.loads(text)["traceback"]
    assert "raised" in recorded  # the helper's frame
    assert "ValueError: with traceback" in recorded
    result = decode_exception(text)
    assert result.durable_traceback == recorded  # type: ignore[attr-defined]


def test_recorded_error_has_traceback_in_both_attributes() -> None:
    text = json.dumps(
        {"type": "not_imported_mod_xyz.E", "message": "m", "args": None, "traceback": "TB\n"}
    )
    result = decode_exception(text)
    assert isinstance(result, RecordedError)
    assert result.traceback_text == "TB\n"
    assert result.durable_traceback == "TB\n"  # type: ignore[attr-defined]


def test_exception_without_traceback_still_encodes() -> None:
    record = json.loads(encode_exception(ValueError("never raised")))
    assert record["traceback"] == "ValueError: never raised\n"


def test_unserialisable_args_encode_as_null_and_decode_to_recorded_error() -> None:
    exc = raised(CustomError("has object", Opaque()))
    text = encode_exception(exc)
    record = json.loads(text)
    assert record["args"] is None
    assert record["type"] == f"{CustomError.__module__}.CustomError"
    assert "has object" in record["message"]
    result = decode_exception(text)
    assert type(result) is RecordedError
    assert result.type_path == f"{CustomError.__module__}.CustomError"
    assert result.error_args == []
    assert result.message == record["message"]


def test_max_step_retries_exceeded_roundtrip_keeps_nested_errors() -> None:
    errors = [
        raised(ValueError("first")),
        raised(KeyError("second")),
        raised(NeedsCodeError("x", 1)),
    ]
    exc = raised(MaxStepRetriesExceeded("charge_card", errors))
    text = encode_exception(exc)
    record = json.loads(text)
    assert [error["type"] for error in record["errors"]] == [
        "builtins.ValueError",
        "builtins.KeyError",
        f"{NeedsCodeError.__module__}.NeedsCodeError",
    ]
    result = decode_exception(text)
    assert type(result) is MaxStepRetriesExceeded
    assert result.step_name == "charge_card"
    assert [type(error) for error in result.errors] == [ValueError, KeyError, RecordedError]
    assert [str(error) for error in result.errors[:2]] == ["first", "'second'"]
    nested = result.errors[2]
    assert isinstance(nested, RecordedError)
    assert nested.message == "x"
    assert all(isinstance(error.durable_traceback, str) for error in result.errors)  # type: ignore[attr-defined]
    assert "ValueError: first" in result.errors[0].durable_traceback  # type: ignore[attr-defined]


def test_generic_errors_attribute_is_encoded() -> None:
    class AggregateError(Exception):
        def __init__(self, errors: list[BaseException]) -> None:
            super().__init__(f"{len(errors)} errors")
            self.errors = errors

    text = encode_exception(raised(AggregateError([ValueError("a"), TypeError("b")])))
    record = json.loads(text)
    assert [(e["type"], e["message"]) for e in record["errors"]] == [
        ("builtins.ValueError", "a"),
        ("builtins.TypeError", "b"),
    ]
    result = decode_exception(text)
    assert type(result) is RecordedError  # defined in a function: not reachable by path
    assert [type(e) for e in result.errors] == [ValueError, TypeError]  # type: ignore[attr-defined]


def test_recorded_error_reencoded_keeps_original_type_path() -> None:
    first = decode_exception(
        json.dumps(
            {"type": "not_imported_mod_xyz.E", "message": "m", "args": ["m"], "traceback": "T1\n"}
        )
    )
    again = decode_exception(encode_exception(raised(first)))
    assert type(again) is RecordedError
    assert again.type_path == "not_imported_mod_xyz.E"
    assert again.message == "m"
    assert "T1" in again.durable_traceback  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["not json at all", "[1, 2]", '"just a string"', "null"])
def test_garbage_error_text_becomes_unknown_recorded_error(text: str) -> None:
    result = decode_exception(text)
    assert type(result) is RecordedError
    assert result.type_path == "unknown"
    assert result.durable_traceback == ""  # type: ignore[attr-defined]


def test_exception_with_broken_str_still_encodes() -> None:
    class BrokenStrError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    record = json.loads(encode_exception(BrokenStrError("x")))
    assert record["message"].startswith("<unprintable ")
    assert record["message"].endswith("BrokenStrError object>")
    assert record["args"] == ["x"]


# ------------------------------------------------------------------ error_summary


def test_error_summary_gives_type_and_message() -> None:
    text = encode_exception(raised(CustomError("summary please")))
    assert error_summary(text) == (f"{CustomError.__module__}.CustomError", "summary please")


def test_error_summary_of_nothing_is_none() -> None:
    assert error_summary(None) is None
    assert error_summary("") is None


def test_error_summary_of_garbage_is_unknown() -> None:
    summary = error_summary("{broken")
    assert summary is not None
    assert summary[0] == "unknown"
    assert "{broken" in summary[1]


def test_error_summary_does_not_import_modules() -> None:
    text = json.dumps({"type": "not_imported_mod_xyz.E", "message": "m"})
    assert error_summary(text) == ("not_imported_mod_xyz.E", "m")
    assert "not_imported_mod_xyz" not in sys.modules


def test_recorded_error_of_importable_type_is_rebuilt_when_reencoded() -> None:
    stand_in = RecordedError("builtins.ValueError", "late", ["late"], "T0\n")
    result = decode_exception(encode_exception(raised(stand_in)))
    assert type(result) is ValueError
    assert result.args == ("late",)
    assert result.durable_traceback.startswith("T0\n")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "exc", [SystemExit(2), KeyboardInterrupt(), GeneratorExit("closed"), BaseException("b")]
)
def test_only_exception_subclasses_are_rebuilt_as_themselves(exc):
    """Re-raising a stored error must never stop the process that reads it."""
    result = decode_exception(encode_exception(exc))
    assert isinstance(result, RecordedError)
    assert result.type_path == f"builtins.{type(exc).__name__}"
