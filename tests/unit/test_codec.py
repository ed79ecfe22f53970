"""config.codec: every data type in every word order, against hand-computed words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.codec import CodecError, DataType, WordOrder, decode_raw, encode, encode_raw, make_decoder

# 0x12345678 as a u32 in each order: ABCD big-endian, CDAB words swapped, BADC bytes swapped
# within each word, DCBA fully little-endian.
U32_WORDS = {
    WordOrder.ABCD: [0x1234, 0x5678],
    WordOrder.CDAB: [0x5678, 0x1234],
    WordOrder.BADC: [0x3412, 0x7856],
    WordOrder.DCBA: [0x7856, 0x3412],
}
# 1.0 as float64 is 0x3FF0_0000_0000_0000.
F64_ONE = {
    WordOrder.ABCD: [0x3FF0, 0, 0, 0],
    WordOrder.CDAB: [0, 0, 0, 0x3FF0],
    WordOrder.BADC: [0xF03F, 0, 0, 0],
    WordOrder.DCBA: [0, 0, 0, 0xF03F],
}


@pytest.mark.parametrize("order", list(WordOrder))
def test_u32_words_in_every_order(order: WordOrder) -> None:
    assert decode_raw(U32_WORDS[order], DataType.U32, order) == 0x12345678
    assert encode_raw(0x12345678, DataType.U32, order) == U32_WORDS[order]


@pytest.mark.parametrize("order", list(WordOrder))
def test_f64_words_in_every_order(order: WordOrder) -> None:
    assert make_decoder(DataType.F64, order)(F64_ONE[order]) == 1.0
    assert encode(1.0, DataType.F64, order) == F64_ONE[order]


def test_f32_230_5_volts_high_word_first() -> None:
    assert make_decoder(DataType.F32, WordOrder.ABCD)([0x4366, 0x8000]) == 230.5


def test_scaled_int32_low_word_first_as_the_em24_sends_it() -> None:
    decode = make_decoder(DataType.I32, WordOrder.CDAB, scale=0.1)
    assert decode([0xD687, 0x0012]) == pytest.approx(123456.7)
    assert encode(123456.7, DataType.I32, WordOrder.CDAB, scale=0.1) == [0xD687, 0x0012]


def test_negative_i16_and_string() -> None:
    assert decode_raw([0xFFFE], DataType.I16) == -2
    assert encode("B1-7", DataType.STRING, length=3) == [0x4231, 0x2D37, 0x0000]
    assert decode_raw([0x4231, 0x2D37, 0x0000], DataType.STRING) == "B1-7"


def test_words_out_of_range_and_values_that_do_not_fit_are_refused() -> None:
    with pytest.raises(CodecError, match=r"0\.\.65535"):
        decode_raw([0x10000, 0], DataType.U32)
    with pytest.raises(CodecError, match="takes 2 registers"):
        decode_raw([1], DataType.F32)
    with pytest.raises(CodecError, match="does not fit"):
        encode_raw(-1, DataType.U16)


_INT_RANGES = {
    DataType.U16: (0, 2**16 - 1), DataType.I16: (-(2**15), 2**15 - 1),
    DataType.U32: (0, 2**32 - 1), DataType.I32: (-(2**31), 2**31 - 1),
    DataType.U64: (0, 2**64 - 1), DataType.I64: (-(2**63), 2**63 - 1),
}


@given(st.sampled_from(sorted(_INT_RANGES)), st.sampled_from(list(WordOrder)), st.data())
def test_integers_round_trip_in_every_order(dtype: DataType, order: WordOrder, data: st.DataObject) -> None:
    lo, hi = _INT_RANGES[dtype]
    value = data.draw(st.integers(lo, hi))
    assert make_decoder(dtype, order)(encode(value, dtype, order)) == value


@given(st.sampled_from(list(WordOrder)), st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float32_round_trips_in_every_order(order: WordOrder, value: float) -> None:
    decoded = make_decoder(DataType.F32, order)(encode(value, DataType.F32, order))
    assert decoded == value or (math.isnan(value) and math.isnan(float(decoded)))
