"""``DBOS.sql_session``'s statement handling: ``:name`` parameters and SQLAlchemy text()."""

from __future__ import annotations

import pytest

from django_durable.dbos._sql import Result, _statement, to_pyformat


def test_named_parameters_become_pyformat_and_percent_signs_are_escaped():
    sql = "SELECT * FROM t WHERE a = :a AND b LIKE '5%' AND c = :c_2"
    assert to_pyformat(sql, {"a": 1, "c_2": 2}) == (
        "SELECT * FROM t WHERE a = %(a)s AND b LIKE '5%%' AND c = %(c_2)s"
    )


def test_casts_and_escaped_colons_are_left_alone():
    assert to_pyformat("SELECT :x::text, '\\:y'", {"x": 1}) == "SELECT %(x)s::text, ':y'"


def test_a_parameter_without_a_value_is_an_error():
    with pytest.raises(ValueError, match="start"):
        to_pyformat("SELECT 1 WHERE x > :start", {})


def test_sqlalchemy_text_clauses_and_their_bound_values():
    sa = pytest.importorskip("sqlalchemy")
    text, bound = _statement(sa.text("SELECT :a, :b").bindparams(b=2))
    assert (text, bound) == ("SELECT :a, :b", {"b": 2})
    assert _statement("SELECT 1") == ("SELECT 1", {})
    with pytest.raises(TypeError, match="text"):
        _statement(42)


def test_a_result_reads_like_sqlalchemy_s():
    result = Result([(1, "a"), (2, "b"), (3, "c")], 3)
    assert result.fetchone() == (1, "a")
    assert list(result) == [(2, "b"), (3, "c")]
    assert result.fetchall() == [] and result.fetchone() is None
    assert Result([(7,)], 1).scalar() == 7
    assert Result([], 0).scalar() is None
    assert Result([(1,), (2,)], 2).first() == (1,)
    assert Result([(1,), (2,)], 2).all() == [(1,), (2,)]
