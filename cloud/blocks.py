"""Settled blocks: one meter's counter readings over an aligned 10-minute block, packed in one point.

A one-batch recompute reads every counter reading of its meters, and InfluxDB 1.x spends
about a microsecond per point serving them (a 22-minute batch of 48 meters: 62k points,
90-130 ms before any Python runs). Once a block's readings have settled, `cloud.settle`
packs them into one `counter_block` point (an empty block too, so "nothing there" is
known): the same times and values, exactly, so attribution from blocks gives the very
numbers it gives from the readings.

A reading that lands after its block may have been packed (an outbox draining after an
outage) is written by the collector together with a `block_stale` mark for its device and
block, stamped with the collector's clock when the write starts. A block marked later than
STALE_MARGIN_MS before it was packed is stale: its readings are read instead until `settle`
packs it again. Why no packed block can miss a reading unnoticed, as long as a successful
write takes less than STALE_MARGIN_MS (InfluxDB's client timeout is seconds) and the
collector's and the settler's clocks agree:
- an unmarked reading's block ended less than SETTLE_DELAY_MS - STALE_MARGIN_MS before the
  write started, and a block is packed SETTLE_DELAY_MS after it ended at the soonest: more
  than STALE_MARGIN_MS after the write started, so after the reading was stored;
- a marked reading stored after its block was packed was written by a write that ended after
  the packing and so started less than STALE_MARGIN_MS before it: its mark makes the block
  stale.

Pure: packing, unpacking, the block grid and the marks; the I/O lives in `cloud.settle`.
"""

from __future__ import annotations

import base64
import binascii
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from cloud import lineprotocol as lp

BLOCK_MS = 600_000
"""Aligned to the epoch, as InfluxQL's GROUP BY time(10m) is, so marks grouped by it line up."""
MEASUREMENT = "counter_block"
STALE_MEASUREMENT = "block_stale"
SETTLE_DELAY_MS = 600_000
"""A block is packed once it ended this long ago; a gateway online delivers within seconds."""
STALE_MARGIN_MS = 300_000
"""A mark this long before a block was packed still makes it stale (see the module's doc)."""
MAX_PACKED_CHARS = 60_000
"""InfluxDB 1.x refuses a string field over 64 KB: a block this big (polls faster than ~4 Hz)
is not packed, and its meter's readings are read as they are."""
_FORMAT = 1
_HEADER = 5
"""Format byte, then the reading count as 4 bytes little-endian."""


class BlockError(ValueError):
    """A stored block that does not unpack: it is ignored and the readings are read instead."""


@dataclass(frozen=True)
class Block:
    device: str
    quantity: str
    start_ms: int
    times: list[int]
    values: list[float]


def block_start(ts_ms: int) -> int:
    return ts_ms - ts_ms % BLOCK_MS


def block_starts(from_ms: int, to_ms: int) -> range:
    """Starts of the blocks that hold any time in [from_ms, to_ms]."""
    return range(block_start(from_ms), block_start(to_ms) + 1, BLOCK_MS)


def _little_endian(column: array) -> bytes:  # type: ignore[type-arg]
    if sys.byteorder == "big":
        column = array(column.typecode, column)
        column.byteswap()
    return column.tobytes()


def _shuffled(raw: bytes) -> bytes:
    """The bytes of 8-byte words regrouped by position (all first bytes, then all second...):
    a counter's consecutive doubles share their sign, exponent and top mantissa bytes, so the
    regrouped bytes deflate ~3x smaller; slicing does it in C."""
    return b"".join(raw[k::8] for k in range(8))


def _unshuffled(raw: bytes) -> bytes:
    count = len(raw) // 8
    words = bytearray(len(raw))
    for k in range(8):
        words[k::8] = raw[k * count:(k + 1) * count]
    return bytes(words)


def pack(times: Sequence[int], values: Sequence[float]) -> str:
    """Times (in the order given) and values as text: int64 and doubles, their bytes
    regrouped, deflated, in base64."""
    if len(times) != len(values):
        raise ValueError(f"{len(times)} times but {len(values)} values")
    body = (bytes([_FORMAT]) + len(times).to_bytes(4, "little")
            + _shuffled(_little_endian(array("q", times))) + _shuffled(_little_endian(array("d", values))))
    return base64.b64encode(zlib.compress(body, 6)).decode("ascii")


def _column(typecode: str, raw: bytes) -> array:  # type: ignore[type-arg]
    column = array(typecode)
    column.frombytes(raw)
    if sys.byteorder == "big":
        column.byteswap()
    return column


def unpack(text: str) -> tuple[list[int], list[float]]:
    """The times and values `pack` was given; BlockError if the text is not such a block."""
    try:
        body = zlib.decompress(base64.b64decode(text, validate=True))
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise BlockError(f"not a packed block: {exc}") from None
    if len(body) < _HEADER or body[0] != _FORMAT:
        raise BlockError(f"unknown block format {body[:1].hex() or 'empty'} (expected {_FORMAT:02x})")
    count = int.from_bytes(body[1:_HEADER], "little")
    if len(body) != _HEADER + 16 * count:
        raise BlockError(f"block of {len(body)} bytes cannot hold {count} readings")
    split = _HEADER + 8 * count
    times = _column("q", _unshuffled(body[_HEADER:split])).tolist()
    return times, _column("d", _unshuffled(body[split:])).tolist()


def block_line(block: Block, settled_at_ms: int) -> tuple[str, bool]:
    """The block's `counter_block` point, and whether it holds its readings: a block too big
    for a string field is stored with its count and no data, so it is known and not retried."""
    packed = pack(block.times, block.values) if block.times else ""
    fits = len(packed) <= MAX_PACKED_CHARS
    fields: dict[str, lp.FieldValue] = {
        "n": float(len(block.times)), "data": packed if fits else "", "settled_at_ms": float(settled_at_ms),
    }
    tags = {"device": block.device, "quantity": block.quantity}
    return lp.line(MEASUREMENT, tags, fields, block.start_ms), fits


def stale(marked_at_ms: int | None, settled_at_ms: int) -> bool:
    return marked_at_ms is not None and marked_at_ms > settled_at_ms - STALE_MARGIN_MS


DeviceBlocks = dict[int, set[str]]
"""Block start -> the devices with readings in it (what a collector's batch holds)."""


def note_blocks(into: DeviceBlocks, readings: Sequence[Mapping[str, Any]]) -> None:
    """Add the (block, device) of readings (`device`, `ts_ms`) to `into`. A message is one poll
    cycle, nearly always inside one block: then no step per reading in Python."""
    if not readings:
        return
    times = list(map(itemgetter("ts_ms"), readings))
    first = block_start(min(times))
    if first == block_start(max(times)):
        into.setdefault(first, set()).update(map(itemgetter("device"), readings))
        return
    for reading in readings:
        into.setdefault(block_start(reading["ts_ms"]), set()).add(reading["device"])


def stale_marks(blocks: DeviceBlocks, now_ms: int, per_ms: int = 1_000_000) -> list[str]:
    """`block_stale` points for the (block, device) pairs that may already be packed, timestamps
    in `per_ms` units (ns, as the collector writes). Written in the same request as the
    readings, at every attempt (a retry is a new write)."""
    cutoff = now_ms - SETTLE_DELAY_MS + STALE_MARGIN_MS
    field = lp.field_set({"marked_at_ms": float(now_ms)})
    # a backlog's batch marks every device it holds: one template, not lp.line per mark
    return [f"{STALE_MEASUREMENT}{lp.tag_set({'device': device})} {field} {start * per_ms}"
            for start in sorted(blocks) if start + BLOCK_MS <= cutoff for device in sorted(blocks[start])]


def block_of(device: str, quantity: str, start: int, times: Sequence[int], values: Sequence[float]) -> Block:
    """The readings (`times` sorted) that fall in the block starting at `start`."""
    first, last = bisect_left(times, start), bisect_left(times, start + BLOCK_MS)
    return Block(device, quantity, start, list(times[first:last]), list(values[first:last]))
