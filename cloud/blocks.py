"""Settled blocks: one meter's counter readings over an aligned hour, packed in one point.

A one-batch recompute reads every counter reading of its meters, and InfluxDB 1.x spends
about a microsecond per point serving them (a 22-minute batch of 48 meters: 62k points,
90-130 ms before any Python runs). Once a block's readings have settled, `cloud.settle`
packs them into one `counter_hour` point (an empty block too, so "nothing there" is
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
import struct
import sys
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise, repeat
from operator import itemgetter, le, mod, sub, truediv
from typing import Any, NamedTuple

from cloud import lineprotocol as lp
from cloud.attribution.elision import Elision, alone_in_slots

BLOCK_MS = 3_600_000
"""Aligned to the epoch, as InfluxQL's GROUP BY time(1h) is, so marks grouped by it line up.
An hour: a 10.8 h batch's recompute plans 11 blocks a meter, not 65 (the per-block Python
was most of it), and a 1 Hz meter's hour fits a string field even when its values do not
compress (about 48 kB)."""
MEASUREMENT = "counter_hour"
"""Blocks were 10 minutes long, in `counter_block`, before 2026-12-04: a new name, so those are
never taken for hours (DROP MEASUREMENT counter_block frees their space)."""
STALE_MEASUREMENT = "block_stale"
SETTLE_DELAY_MS = 600_000
"""A block is packed once it ended this long ago; a gateway online delivers within seconds."""
STALE_MARGIN_MS = 300_000
"""A mark this long before a block was packed still makes it stale (see the module's doc)."""
MAX_PACKED_CHARS = 60_000
"""InfluxDB 1.x refuses a string field over 64 KB: a block this big (polls faster than about
1 Hz when the values do not compress, ~4 Hz when they do) is stored with its summary and
cuts but not its readings; where those are needed its meter's readings are read as they are."""
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
    times, values = unpack_arrays(text)
    return times.tolist(), values.tolist()


def unpack_arrays(text: str) -> tuple[array, array]:  # type: ignore[type-arg]
    """`unpack` as arrays ("q" and "d"): no Python number per reading until one is looked at."""
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
    return _column("q", _unshuffled(body[_HEADER:split])), _column("d", _unshuffled(body[split:]))


class Summary(NamedTuple):
    """What a long batch needs of a block it only passes through: its first and last readings
    and bounds on every step between them (see `elidable`). A tuple: a month's recompute
    reads thousands."""

    n: int
    first_ms: int
    first_v: float
    last_ms: int
    last_v: float
    min_step_ms: int
    max_step_ms: int
    rising: bool
    """No reading below the one before it."""
    max_rise_per_ms: float
    phase_ms: int
    """The readings' times modulo `phase_of_ms` (the meter's poll interval) lie in the arc of
    `phase_span_ms` from here (cloud.attribution.elision.alone_in_slots)."""
    phase_span_ms: int
    phase_of_ms: int


SUMMARY_FIELD = "summary"
"""Stored beside `n` on a packed block (blocks packed before it existed have none): the
summary's numbers packed (`summary_text`), one field for InfluxDB to read instead of eleven."""
CUTS_FIELD = "cuts"
"""Beside the summary: the readings around the cuts known at packing (`Cuts`)."""
_SUMMARY_STRUCT = struct.Struct("<B q d q d q q B d q q q")
_SUMMARY_FORMAT = 1


ELIDABLE_MAX_VALUE = 1e10
"""Up to here a counter's float rounding stays far inside the 0.1 kWh slack of the power test."""
ELIDABLE_RATE_MARGIN = 1e-6


def summary_of(times: Sequence[int], values: Sequence[float], poll_ms: int) -> Summary | None:
    """The summary of a block's readings (sorted, one per time) of a meter polled every
    `poll_ms`; None for an empty block."""
    if not times:
        return None
    steps = list(map(sub, times[1:], times[:-1])) or [0]
    rises = list(map(sub, values[1:], values[:-1]))
    phase, span = phase_arc(times, poll_ms)
    return Summary(
        n=len(times), first_ms=times[0], first_v=values[0], last_ms=times[-1], last_v=values[-1],
        min_step_ms=min(steps), max_step_ms=max(steps), rising=all(map(le, values[:-1], values[1:])),
        max_rise_per_ms=max(map(truediv, rises, steps), default=0.0),
        phase_ms=phase, phase_span_ms=span, phase_of_ms=poll_ms,
    )


def phase_arc(times: Sequence[int], period_ms: int) -> tuple[int, int]:
    """(start, length) of the shortest arc of the circle of `period_ms` that holds every time
    modulo `period_ms`: the complement of the widest empty stretch between them."""
    phases = sorted(set(map(mod, times, repeat(period_ms))))
    if len(phases) < 2:
        return (phases[0] if phases else 0), 0
    empty = [*map(sub, phases[1:], phases[:-1]), phases[0] + period_ms - phases[-1]]
    widest = max(range(len(empty)), key=empty.__getitem__)
    start = phases[(widest + 1) % len(phases)]
    return start, period_ms - empty[widest]


def summary_text(summary: Summary) -> str:
    return base64.b64encode(_SUMMARY_STRUCT.pack(_SUMMARY_FORMAT, *summary[1:])).decode("ascii")


def summary_from(n: int, text: object) -> Summary | None:
    """A stored summary (`summary_text`) of a block of `n` readings; None when absent or not one."""
    if n < 1 or not isinstance(text, str):
        return None
    try:
        fields = _SUMMARY_STRUCT.unpack(base64.b64decode(text))
    except (binascii.Error, struct.error, ValueError):
        return None
    form, first_ms, first_v, last_ms, last_v, min_step, max_step, rising, max_rise, phase, span, of = fields
    if form != _SUMMARY_FORMAT:
        return None
    return Summary(n, first_ms, first_v, last_ms, last_v, min_step, max_step, bool(rising), max_rise,
                   phase, span, of)


def elidable(summary: Summary, rate_per_ms: float | None, poll_ms: int, gap_limit_ms: float) -> bool:
    """May the readings strictly inside this block stand for themselves unseen?

    Yes when every step between them is an ordinary increase for `counters.track_of` (rate:
    its max_power_kw x 1.25 per ms; a rise within the rate with no slack passes its test
    with the 0.1 kWh slack to spare, whatever the rounding), none is a gap, and no two share
    a completeness slot wherever the slots start but where `Thinning.plan` checks (at least
    a poll apart, or their phases in an arc shorter than every step).
    """
    if not summary.rising or summary.n < 3:
        return False
    if max(abs(summary.first_v), abs(summary.last_v)) > ELIDABLE_MAX_VALUE:
        return False
    if rate_per_ms is not None and summary.max_rise_per_ms > rate_per_ms * (1 - ELIDABLE_RATE_MARGIN):
        return False
    apart = summary.min_step_ms >= poll_ms or (
        summary.phase_of_ms == poll_ms and summary.min_step_ms > summary.phase_span_ms)
    return apart and summary.max_step_ms <= gap_limit_ms


def block_line(block: Block, settled_at_ms: int, poll_ms: int, cut_times: Sequence[int] = (),
               reach_ms: float = 0.0) -> tuple[str, bool]:
    """The block's `counter_hour` point, and whether it holds its readings: a block too big
    for a string field is stored without them, so it is known and not retried. A block with
    readings carries their summary and cuts, whether or not they fit."""
    packed = pack(block.times, block.values) if block.times else ""
    fits = len(packed) <= MAX_PACKED_CHARS
    fields: dict[str, lp.FieldValue] = {
        "n": float(len(block.times)), "data": packed if fits else "", "settled_at_ms": float(settled_at_ms),
    }
    summary = summary_of(block.times, block.values, poll_ms)
    if summary is not None:
        fields[SUMMARY_FIELD] = summary_text(summary)
        fields[CUTS_FIELD] = cuts_text(cuts_of(block.times, block.values, cut_times, poll_ms, reach_ms))
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


KEPT_AROUND = 5
"""Readings kept on each side of a needed time: the bracketing pair, a snapshot's neighbours,
and the `edge` readings a span's query keeps past its ends (glitch_max_samples + 1 = 4)."""


def cut_reach_ms(gap_limit_ms: float) -> float:
    """How far outside a block a needed time still reaches into it: the readings kept around
    it span at most this much, every step of an elidable block being at most gap_limit_ms."""
    return (KEPT_AROUND + 1) * gap_limit_ms


@dataclass(frozen=True)
class Thinning:
    """How a meter's blocks may be thinned (cloud.attribution.elision): the times attribution
    needs readings around, and the meter's limits for `elidable`."""

    needed: list[int]
    """Sorted."""
    rate_per_ms: float | None
    poll_ms: int
    gap_limit_ms: float
    counted: list[tuple[int, int]] = field(default_factory=list)
    """The windows (start, end) of the batches reported: completeness counts their readings
    in poll slots from start - half a poll, to end + half a poll."""

    def touching(self, summary: Summary) -> list[int]:
        """The needed times inside the block, or so near it that the readings kept around them
        reach into the block (every step of an elidable block is at most gap_limit_ms)."""
        reach = cut_reach_ms(self.gap_limit_ms)
        return self.needed[bisect_left(self.needed, summary.first_ms - reach):
                           bisect_right(self.needed, summary.last_ms + reach)]

    def plan(self, summary: Summary | None, cuts: Cuts | None = None) -> str:
        """"summary": the block's summary stands for it (no data read); "cuts": so do its
        summary and the readings it keeps around the cuts known when it was packed; "thin":
        read it, keep the readings around the needed times; "whole": read it, keep every
        reading."""
        return self._planned(summary, lambda: cuts)[0]

    def plan_stored(self, summary: Summary | None, cuts_text: object) -> tuple[str, Cuts | None]:
        """`plan`, and the Cuts, parsed from their stored text (`cuts_text`) only when a needed
        time touches the block and the block is elidable (the only case they decide)."""
        return self._planned(summary, lambda: cuts_from(cuts_text))

    def _planned(self, summary: Summary | None,
                 cuts_of: Callable[[], Cuts | None]) -> tuple[str, Cuts | None]:
        if summary is None or not self.elidable(summary):
            return ("summary" if summary is not None and summary.n <= 2 else "whole"), None
        touching = self.touching(summary)
        if not touching:
            return "summary", None
        cuts = cuts_of()
        held = cuts.held(summary, touching) if cuts is not None else None
        return ("cuts", held) if held is not None else ("thin", None)

    def near(self, from_ms: int, to_ms: int) -> Thinning:
        """This thinning for readings in [from_ms, to_ms] only: without the needed times too
        far out to keep any of them."""
        reach = cut_reach_ms(self.gap_limit_ms)
        first, last = bisect_left(self.needed, from_ms - reach), bisect_right(self.needed, to_ms + reach)
        return replace(self, needed=self.needed[first:last])

    def elidable(self, summary: Summary) -> bool:
        half = self.poll_ms // 2
        return elidable(summary, self.rate_per_ms, self.poll_ms, self.gap_limit_ms) and all(
            alone_in_slots(summary, start - half, self.poll_ms) for start, end in self.counted
            if start - half <= summary.last_ms and summary.first_ms <= end + half)


def _elision(summary: Summary, after_ms: int, before_ms: int, readings: int) -> Elision:
    """Readings of the block between two kept ones, bounded by the block's summary."""
    return Elision(after_ms, before_ms, readings, summary.min_step_ms, summary.max_step_ms, summary.phase_ms,
                   summary.phase_span_ms, summary.phase_of_ms)


def _spanning(summary: Summary) -> Elision:
    """The elision of every reading of the block but the first and last."""
    return _elision(summary, summary.first_ms, summary.last_ms, summary.n - 2)


Thinned = tuple[list[int], list[float], list[Elision]]


def from_summary(summary: Summary) -> Thinned:
    """A block by its summary alone: its first and last readings, the rest elided (n > 2
    only when `elidable`; a block of one or two readings is all there)."""
    if summary.n == 1:
        return [summary.first_ms], [summary.first_v], []
    elided = [_spanning(summary)] if summary.n > 2 else []
    return [summary.first_ms, summary.last_ms], [summary.first_v, summary.last_v], elided


def kept_positions(summary: Summary, touching: Sequence[int],
                   position_of: Callable[[int], int | None]) -> set[int] | None:
    """The positions a thinned block keeps: its first and last, KEPT_AROUND each side of the
    position of every touching time inside it (`position_of`: of the first reading at or after
    the time), and its first or last KEPT_AROUND for a touching time before or after it. None
    where `position_of` cannot tell."""
    n = summary.n
    keep = {0, n - 1}
    if touching and touching[0] < summary.first_ms:
        keep.update(range(min(n, KEPT_AROUND)))
    if touching and touching[-1] > summary.last_ms:
        keep.update(range(max(0, n - KEPT_AROUND), n))
    for t in touching[bisect_left(touching, summary.first_ms):bisect_right(touching, summary.last_ms)]:
        i = position_of(t)
        if i is None:
            return None
        keep.update(range(max(0, i - KEPT_AROUND), min(n, i + KEPT_AROUND)))
    return keep


def _thinned_at(kept: Sequence[int], times: Sequence[int], values: Sequence[float],
                summary: Summary) -> Thinned:
    """The readings at the kept positions (sorted; `times` and `values` are those readings),
    what lies between them elided, bounded by the block's steps."""
    elided = [_elision(summary, times[k], times[k + 1], b - a - 1)
              for k, (a, b) in enumerate(pairwise(kept)) if b - a > 1]
    return list(times), list(values), elided


def thinned(times: Sequence[int], values: Sequence[float], summary: Summary,
            touching: Sequence[int]) -> Thinned:
    """An elidable block's readings at its `kept_positions` for the needed times touching it
    (`Thinning.touching`). `times` and `values` may be arrays: only the kept ones become
    Python numbers."""
    kept = sorted(kept_positions(summary, touching, lambda t: bisect_left(times, t)) or ())
    return _thinned_at(kept, [times[k] for k in kept], [values[k] for k in kept], summary)


class Part(NamedTuple):
    """One non-empty block of a device, as `Thinning.plan` had it read."""

    summary: Summary | None
    plan: str
    readings: tuple[Sequence[int], Sequence[float]] | None
    """Unpacked (lists or arrays), unless the plan is "summary" or "cuts"."""
    cuts: Cuts | None = None
    """For the plan "cuts": `Cuts.held` for the block's needed times."""


def thin_blocks(parts: Sequence[Part], thinning: Thinning) -> Thinned:
    """A device's blocks in time order as one thinned series."""
    times: list[int] = []
    values: list[float] = []
    elided: list[Elision] = []
    for part in parts:
        if part.plan == "summary" and part.summary is not None:
            ts, vs, es = from_summary(part.summary)
        elif part.plan == "cuts" and part.summary is not None and part.cuts is not None:
            ts, vs, es = part.cuts.thinned(part.summary)
        elif part.readings is None:
            raise ValueError(f"a block planned {part.plan!r} comes without its readings")
        elif part.plan == "thin" and part.summary is not None:
            ts, vs, es = thinned(*part.readings, part.summary, thinning.touching(part.summary))
        else:
            ts, vs, es = _listed(part.readings[0]), _listed(part.readings[1]), []
        times += ts
        values += vs
        elided += es
    return times, values, elided


def _listed(column: Sequence[Any]) -> list[Any]:
    return column.tolist() if isinstance(column, array) else list(column)


class Cuts(NamedTuple):
    """A block's readings around the cuts known when it was packed (batch events, factor
    changes) within a cut's reach of it: for each such time, KEPT_AROUND readings beyond
    those within a poll of it (for a time outside the block, the first or last KEPT_AROUND).
    A recompute takes the block from them when they hold every reading its needed times
    keep (`held`), as they do for needed times within a poll of these."""

    times: list[int]
    """The cut times, sorted."""
    indexes: list[int]
    """Positions in the block of the readings kept, sorted."""
    readings: tuple[list[int], list[float]]

    def _position(self, t: int, summary: Summary) -> int | None:
        """The position of the block's first reading at or after `t`, when the cuts tell it:
        the kept reading after `t` follows the kept one before it with none between."""
        if t <= summary.first_ms:
            return 0
        times, indexes = self.readings[0], self.indexes
        j = bisect_left(times, t)
        if j == 0 or j == len(times) or indexes[j - 1] + 1 != indexes[j]:
            return None
        return indexes[j]

    def held(self, summary: Summary, touching: Sequence[int]) -> Cuts | None:
        """These cuts with only the readings at the block's `kept_positions` for the needed
        times touching it; None when they do not hold them all (the block must be read)."""
        kept = kept_positions(summary, touching, lambda t: self._position(t, summary))
        if kept is None:
            return None
        indexes, at = self.indexes, []
        for k in sorted(kept):
            j = bisect_left(indexes, k)
            if j < len(indexes) and indexes[j] == k:
                at.append(j)
            elif 0 < k < summary.n - 1:  # the first and last come with the summary
                return None
        times, values = self.readings
        return Cuts(self.times, [indexes[j] for j in at], ([times[j] for j in at], [values[j] for j in at]))

    def thinned(self, summary: Summary) -> Thinned:
        """The block as its first, last and kept readings, the rest elided (as `thinned`; from
        `held` cuts, exactly what `thinned` keeps from the block's readings)."""
        times, values = self.readings
        kept = dict(zip(self.indexes, zip(times, values, strict=True), strict=True))
        kept.setdefault(0, (summary.first_ms, summary.first_v))
        kept.setdefault(summary.n - 1, (summary.last_ms, summary.last_v))
        order = sorted(kept)
        return _thinned_at(order, [kept[k][0] for k in order], [kept[k][1] for k in order], summary)


_CUTS_FORMAT = 1


def cuts_of(times: Sequence[int], values: Sequence[float], cut_times: Sequence[int], poll_ms: int,
            reach_ms: float) -> Cuts:
    """The block's Cuts for the cut times (sorted) within `reach_ms` of it."""
    n = len(times)
    near = list(cut_times[bisect_left(cut_times, times[0] - reach_ms):
                          bisect_right(cut_times, times[-1] + reach_ms)])
    keep: set[int] = set()
    for e in near:
        keep.update(range(max(0, bisect_left(times, e - poll_ms) - KEPT_AROUND),
                          min(n, bisect_left(times, e + poll_ms) + KEPT_AROUND)))
    indexes = sorted(keep)
    return Cuts(near, indexes, ([times[k] for k in indexes], [values[k] for k in indexes]))


def cuts_text(cuts: Cuts) -> str:
    """Format byte, then counts and columns: cut times (int64), positions (uint32), the kept
    readings' times (int64) and values (double), little-endian, in base64."""
    head = struct.pack("<BII", _CUTS_FORMAT, len(cuts.times), len(cuts.indexes))
    body = (_little_endian(array("q", cuts.times)) + _little_endian(array("I", cuts.indexes))
            + _little_endian(array("q", cuts.readings[0])) + _little_endian(array("d", cuts.readings[1])))
    return base64.b64encode(head + body).decode("ascii")


def cuts_from(text: object) -> Cuts | None:
    """Stored Cuts (`cuts_text`); None when absent or not such a text."""
    if not isinstance(text, str) or not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
        form, times, kept = struct.unpack_from("<BII", raw)
    except (binascii.Error, struct.error, ValueError):
        return None
    sizes = (8 * times, 4 * kept, 8 * kept, 8 * kept)
    if form != _CUTS_FORMAT or len(raw) != 9 + sum(sizes):
        return None
    columns, at = [], 9
    for typecode, size in zip("qIqd", sizes, strict=True):
        columns.append(_column(typecode, raw[at:at + size]).tolist())
        at += size
    return Cuts(columns[0], columns[1], (columns[2], columns[3]))
