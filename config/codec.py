"""Register words <-> values, for every data type and word order a profile can declare.

Pure and shared: the agent decodes with it and the simulators encode with it, so the two
are inverse by construction and the golden cases in config/profiles/cases/ test both.

Byte orders are named by where the bytes of a big-endian value A B C D (E F G H) land:
ABCD big-endian, high word first; CDAB low word first (words swapped, bytes in a word
big-endian); BADC high word first, bytes swapped in each word; DCBA little-endian. For
64-bit values the same rule applies word by word (CDAB reverses the four words).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from enum import StrEnum


class DataType(StrEnum):
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    U64 = "u64"
    I64 = "i64"
    F32 = "f32"
    F64 = "f64"
    STRING = "string"


class WordOrder(StrEnum):
    ABCD = "ABCD"
    CDAB = "CDAB"
    BADC = "BADC"
    DCBA = "DCBA"


_STRUCT = {
    DataType.U16: "H",
    DataType.I16: "h",
    DataType.U32: "I",
    DataType.I32: "i",
    DataType.U64: "Q",
    DataType.I64: "q",
    DataType.F32: "f",
    DataType.F64: "d",
}
_WORDS = {
    DataType.U16: 1,
    DataType.I16: 1,
    DataType.U32: 2,
    DataType.I32: 2,
    DataType.U64: 4,
    DataType.I64: 4,
    DataType.F32: 2,
    DataType.F64: 4,
}

Number = int | float
Decoded = Number | str


class CodecError(ValueError):
    """Words that cannot be a value of the declared type, or a value that does not fit."""


def word_count(dtype: DataType, length: int = 0) -> int:
    """Registers a value occupies; strings take `length` registers (two characters each)."""
    if dtype is DataType.STRING:
        if length < 1:
            raise CodecError("a string register needs a length of at least 1")
        return length
    return _WORDS[dtype]


def _reorder(words: Sequence[int], order: WordOrder) -> list[int]:
    """Map wire words to big-endian (ABCD) words; the mapping is its own inverse."""
    if order is WordOrder.ABCD:
        return list(words)
    if order is WordOrder.CDAB:
        return list(reversed(words))
    if order is WordOrder.BADC:
        return [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return [((w & 0xFF) << 8) | (w >> 8) for w in reversed(words)]


def decode_raw(words: Sequence[int], dtype: DataType, order: WordOrder = WordOrder.ABCD) -> Decoded:
    """The register value before scaling: an int, a float or a string."""
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise CodecError(f"register words must be 0..65535, got {list(words)}")
    if dtype is DataType.STRING:
        data = struct.pack(f">{len(words)}H", *_reorder(words, order))
        return data.split(b"\x00", 1)[0].decode("ascii", errors="replace").rstrip()
    if len(words) != _WORDS[dtype]:
        raise CodecError(f"{dtype} takes {_WORDS[dtype]} registers, got {len(words)}")
    data = struct.pack(f">{len(words)}H", *_reorder(words, order))
    value: Decoded = struct.unpack(">" + _STRUCT[dtype], data)[0]
    return value


def encode_raw(
    value: Decoded, dtype: DataType, order: WordOrder = WordOrder.ABCD, length: int = 0
) -> list[int]:
    """Register words for a raw (unscaled) value; the inverse of `decode_raw`."""
    if dtype is DataType.STRING:
        data = str(value).encode("ascii")[: 2 * length].ljust(2 * length, b"\x00")
        return _reorder(list(struct.unpack(f">{length}H", data)), order)
    fmt = ">" + _STRUCT[dtype]
    try:
        if dtype in (DataType.F32, DataType.F64):
            data = struct.pack(fmt, float(value))
        else:
            data = struct.pack(fmt, int(value))
    except (struct.error, OverflowError, ValueError) as exc:
        raise CodecError(f"{value!r} does not fit {dtype}: {exc}") from exc
    return _reorder(list(struct.unpack(f">{len(data) // 2}H", data)), order)


def make_decoder(
    dtype: DataType, order: WordOrder, scale: float = 1.0, offset: float = 0.0
) -> Callable[[Sequence[int]], Decoded]:
    """A fast decoder for one register: words in, physical value out (raw * scale + offset).

    Precomputed per register so the hot poll loop does one struct call per value.
    """
    if dtype is DataType.STRING:
        return lambda words: decode_raw(words, dtype, order)
    unpack = struct.Struct(">" + _STRUCT[dtype]).unpack
    pack_words = struct.Struct(f">{_WORDS[dtype]}H").pack
    is_int = dtype not in (DataType.F32, DataType.F64)
    identity = scale == 1.0 and offset == 0.0

    def decode(words: Sequence[int]) -> Decoded:
        ordered = words if order is WordOrder.ABCD else _reorder(words, order)
        raw: Number = unpack(pack_words(*ordered))[0]
        if identity:
            return raw if is_int else float(raw)
        return raw * scale + offset

    return decode


def encode(
    value: Decoded,
    dtype: DataType,
    order: WordOrder = WordOrder.ABCD,
    scale: float = 1.0,
    offset: float = 0.0,
    length: int = 0,
) -> list[int]:
    """Register words for a physical value: the inverse of `make_decoder(...)(words)`."""
    if dtype is DataType.STRING or isinstance(value, str):
        return encode_raw(value, dtype, order, length)
    exact = isinstance(value, int) and scale == 1.0 and offset == 0.0
    # a float detour would round 64-bit integers above 2**53
    raw: Number = value if exact else (value - offset) / scale
    if dtype not in (DataType.F32, DataType.F64):
        raw = round(raw)
    return encode_raw(raw, dtype, order, length)
