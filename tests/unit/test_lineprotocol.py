from __future__ import annotations

import pytest

from cloud import lineprotocol as lp


def test_escapes_each_part_by_its_own_rules() -> None:
    text = lp.line("m a,b=c", {"k y,=": "v a,=l"}, {"f x": 'say "hi" \\ there', "n": 3}, 5)
    assert text == 'm\\ a\\,b=c,k\\ y\\,\\==v\\ a\\,\\=l f\\ x="say \\"hi\\" \\\\ there",n=3.0 5'


def test_numbers_are_always_floats() -> None:
    assert lp.field_value(7) == "7.0"
    assert lp.field_value(1e-5) == "1e-05"
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
