"""Settled blocks, pure parts: packing is exact, the grid and the stale marks' rules."""

from __future__ import annotations

import base64
import random
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.blocks import (
    BLOCK_MS,
    MAX_PACKED_CHARS,
    SETTLE_DELAY_MS,
    STALE_MARGIN_MS,
    Block,
    BlockError,
    DeviceBlocks,
    block_line,
    block_of,
    block_starts,
    note_blocks,
    pack,
    stale,
    stale_marks,
    unpack,
)

T0 = 1_700_000_000_000 - 1_700_000_000_000 % BLOCK_MS

readings = st.lists(
    st.tuples(st.integers(0, 2**62), st.floats(allow_nan=False, width=64)), max_size=300,
).map(lambda pairs: ([t for t, _ in pairs], [v for _, v in pairs]))


def bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


@given(readings)
def test_a_block_unpacks_to_exactly_what_was_packed(columns: tuple[list[int], list[float]]) -> None:
    times, values = columns
    back_times, back_values = unpack(pack(times, values))
    assert back_times == times
    assert bits(back_values) == bits(values)  # bit for bit: -0.0, subnormals, infinities


@pytest.mark.parametrize(("text", "says"), [
    ("not base64!", "not a packed block"),
    (base64.b64encode(b"plain").decode(), "not a packed block"),
    (base64.b64encode(zlib.compress(b"\x07\x00\x00\x00\x00")).decode(), "unknown block format 07"),
    (base64.b64encode(zlib.compress(b"\x01\x02\x00\x00\x00" + b"\x00" * 16)).decode(),
     "cannot hold 2 readings"),
])
def test_a_block_that_does_not_unpack_says_why(text: str, says: str) -> None:
    with pytest.raises(BlockError, match=says):
        unpack(text)


def test_the_grid_holds_both_ends_and_a_block_takes_only_its_own_readings() -> None:
    assert list(block_starts(T0 + 1, T0 + BLOCK_MS)) == [T0, T0 + BLOCK_MS]
    assert list(block_starts(T0, T0 + BLOCK_MS - 1)) == [T0]
    times = [T0 - 1, T0, T0 + BLOCK_MS - 1, T0 + BLOCK_MS]
    block = block_of("m1", "kwh", T0, times, [1.0, 2.0, 3.0, 4.0])
    assert (block.times, block.values) == ([T0, T0 + BLOCK_MS - 1], [2.0, 3.0])


def _incompressible(n: int) -> list[float]:
    """Doubles whose low 52 bits are random: they hardly deflate (8 bytes each)."""
    noise = random.Random(1)
    return [struct.unpack("<d", struct.pack("<Q", 0x3FF0000000000000 + noise.getrandbits(52)))[0]
            for _ in range(n)]


def test_a_block_too_big_for_a_string_field_keeps_its_count_and_summary_without_data() -> None:
    # 8 bytes a value, 4/3 in base64
    n = MAX_PACKED_CHARS // 8
    block = Block("m1", "kwh", T0, list(range(T0, T0 + n)), _incompressible(n))
    line, fits = block_line(block, settled_at_ms=5, poll_ms=1)
    assert not fits
    assert f'n={float(n)!r},data="",settled_at_ms=5.0,summary="' in line
    assert line.endswith(f" {T0}")
    small, fits = block_line(Block("m1", "kwh", T0, [T0], [1.5]), settled_at_ms=5, poll_ms=1)
    assert fits
    assert small.startswith("counter_hour,device=m1,quantity=kwh n=1.0,data=")


def test_only_readings_whose_block_may_be_packed_are_marked_once_per_block() -> None:
    now = T0 + 10 * BLOCK_MS
    cutoff = now - SETTLE_DELAY_MS + STALE_MARGIN_MS  # a block ending by here may be packed
    recent = cutoff - cutoff % BLOCK_MS  # the block starting here ends after the cutoff
    old = recent - BLOCK_MS  # ends by the cutoff
    blocks: DeviceBlocks = {}
    note_blocks(blocks, [{"device": "m1", "ts_ms": old}, {"device": "m2", "ts_ms": old + 5}])
    note_blocks(blocks, [{"device": "m1", "ts_ms": old + 9}, {"device": "m1", "ts_ms": recent}])  # two blocks
    note_blocks(blocks, [])
    assert blocks == {old: {"m1", "m2"}, recent: {"m1"}}
    marks = stale_marks(blocks, now, per_ms=1)
    assert marks == [f"block_stale,device=m1 marked_at_ms={float(now)!r} {old}",
                     f"block_stale,device=m2 marked_at_ms={float(now)!r} {old}"]
    assert stale_marks(blocks, now)[0].endswith(f" {old * 1_000_000}")  # ns, as the collector writes
    assert stale_marks({recent: {"m1"}}, now) == []


def test_a_block_is_stale_when_marked_after_it_was_packed_less_the_margin() -> None:
    packed = T0 + 20 * BLOCK_MS
    assert not stale(None, packed)
    assert not stale(packed - STALE_MARGIN_MS, packed)
    assert stale(packed - STALE_MARGIN_MS + 1, packed)
    assert stale(packed + 1, packed)


def test_an_hour_of_one_hertz_readings_fits_even_when_its_values_do_not_compress() -> None:
    jitter = random.Random(2)
    times = [T0 + k * 1000 + jitter.randrange(40) for k in range(BLOCK_MS // 1000)]
    line, fits = block_line(Block("m1", "kwh", T0, times, _incompressible(len(times))), 5, poll_ms=1000)
    assert fits
    assert 'data=""' not in line
