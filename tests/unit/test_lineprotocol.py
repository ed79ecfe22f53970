from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cloud import lineprotocol as lp


def test_escapes_each_part_by_its_own_rules() -> None:
    text = lp.line("m a,b=c", {"k y,=": "v a,=l"}, {"f x": 'say "hi" \\ there', "n": 3}, 5)
    assert text == 'm\\ a\\,b=c,k\\ y\\,\\==v\\ a\\,\\=l f\\ x="say \\"hi\\" \\\\ there",n=3.0 5'


def test_numbers_are_always_floats() -> None:
    assert lp.field_value(7) == "7.0"
    assert lp.field_value(1e-5) == "0.00001"
    assert lp.field_value(2.5e-7) == "2.5e-7"
    with pytest.raises(lp.LineProtocolError, match="finite"):
        lp.field_value(float("nan"))


def test_tags_are_sorted_and_empty_values_left_out() -> None:
    assert lp.tag_set({"b": "2", "a": "1", "line": ""}) == ",a=1,b=2"


@pytest.mark.parametrize("name", ["a\nb", "ends\\", "a\\,b", "a\\ b", "a\\=b", ""])
def test_unrepresentable_names_are_refused(name: str) -> None:
    with pytest.raises(lp.LineProtocolError):
        lp.tag_value(name)


def test_a_backslash_elsewhere_is_kept_literally() -> None:
    assert lp.tag_value("a\\b") == "a\\b"


def test_reserved_and_comment_names_are_refused() -> None:
    with pytest.raises(lp.LineProtocolError, match="reserved"):
        lp.key("time")
    with pytest.raises(lp.LineProtocolError, match="comment"):
        lp.measurement("#m")
    with pytest.raises(lp.LineProtocolError, match="at least one field"):
        lp.line("m", {}, {}, 1)


@given(st.floats(allow_nan=False, allow_infinity=False))
@example(5e-324)
@example(-0.0)
@example(1.7976931348623157e308)
def test_a_float_is_written_as_text_that_reads_back_as_the_same_double(x: float) -> None:
    text = lp.field_value(x)
    assert float(text) == x
    assert math.copysign(1, float(text)) == math.copysign(1, x)
    assert not set(text) & set("inf")  # never an integer field, never nan/inf


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20))
def test_many_floats_at_once_are_written_as_one_by_one(xs: list[float]) -> None:
    assert lp.float_texts(xs) == [lp.field_value(x) for x in xs]
