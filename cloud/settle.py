"""InfluxDB I/O for settled blocks (cloud.blocks): pack them, and read a span back from them.

`settle` packs every block of the plant's counter meters over a window that ended
SETTLE_DELAY_MS ago and is missing or stale. `settled_columns` gives a span's readings from
blocks for the meters whose every block in the span is current (packed, not stale); the
other meters are read as readings. Both read the same two small statements: the stored
blocks' counts and packing times, and the stale marks.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cloud import influxql
from cloud.attribution.elision import poll_ms
from cloud.attribution.emissions import change_points, curves_for
from cloud.blocks import (
    BLOCK_MS,
    CUTS_FIELD,
    MEASUREMENT,
    SETTLE_DELAY_MS,
    STALE_MEASUREMENT,
    SUMMARY_FIELD,
    BlockError,
    Cuts,
    Part,
    Summary,
    Thinned,
    Thinning,
    block_line,
    block_of,
    block_start,
    block_starts,
    cut_reach_ms,
    stale,
    summary_from,
    thin_blocks,
    unpack,
    unpack_arrays,
)
from cloud.influx import InfluxHttp, Series
from config.plant import Meter, PlantModel

log = logging.getLogger("cloud.settle")

CHUNK_MS = 2 * 3_600_000
"""`settle` reads this much time of a group of meters per statement."""
DEVICES_PER_STATEMENT = 25
WRITE_LINES = 200
"""Blocks per write request (a block is a few kB)."""

Columns = tuple[list[int], list[float]]
Key = tuple[str, int]
"""(device, block start)."""


class Stored(NamedTuple):
    n: int
    settled_at_ms: int
    data: str | None
    """Packed readings (None when not asked for; "" when empty or too big to pack)."""
    summary: Summary | None = None
    """When asked for and stored (cloud.blocks.Summary)."""
    cuts: str | None = None
    """The stored Cuts, as text (read when a needed time touches the block)."""


@dataclass(frozen=True)
class Settled:
    packed: int
    """Blocks written (missing or stale before), empty ones included."""
    current: int
    """Blocks that were already packed and not stale."""
    readings: int
    """Readings packed."""
    too_big: int
    """Blocks stored without their readings: over InfluxDB's string field limit."""

    def plus(self, other: Settled) -> Settled:
        return Settled(self.packed + other.packed, self.current + other.current,
                       self.readings + other.readings, self.too_big + other.too_big)


def _grid(from_ms: int, to_ms: int) -> str:
    """The blocks holding [from_ms, to_ms], whole."""
    return f"time >= {block_start(from_ms)}ms AND time < {block_start(to_ms) + BLOCK_MS}ms"


def blocks_query(quantity: str, devices: Sequence[str], from_ms: int, to_ms: int, with_data: bool,
                 with_summary: bool = False) -> str:
    fields = '"n", "settled_at_ms", "data"' if with_data else '"n", "settled_at_ms"'
    if with_summary:
        fields += f', "{SUMMARY_FIELD}", "{CUTS_FIELD}"'
    return (f'SELECT {fields} FROM "{MEASUREMENT}" WHERE "quantity" = {influxql.quote(quantity)} '
            f'AND {influxql.devices(devices)} AND {_grid(from_ms, to_ms)} GROUP BY "device"')


def marks_query(devices: Sequence[str], from_ms: int, to_ms: int) -> str:
    return (f'SELECT max("marked_at_ms") FROM "{STALE_MEASUREMENT}" WHERE {influxql.devices(devices)} '
            f'AND {_grid(from_ms, to_ms)} GROUP BY time({BLOCK_MS}ms), "device" fill(none)')


async def stored_blocks(influx: InfluxHttp, quantity: str, devices: Sequence[str], from_ms: int,
                        to_ms: int, with_data: bool, with_summary: bool = False) -> dict[Key, Stored]:
    """The stored blocks holding [from_ms, to_ms]."""
    q = blocks_query(quantity, devices, from_ms, to_ms, with_data, with_summary)

    def take(answer: list[Series]) -> dict[Key, Stored]:
        return {(s.tags.get("device", ""), int(row[0])):
                Stored(int(row[1]), int(row[2]), (row[3] or "") if with_data else None,
                       summary_from(int(row[1]), row[-2]) if with_summary else None,
                       row[-1] if with_summary and isinstance(row[-1], str) else None)
                for s in answer for row in s.values
                if isinstance(row[1], int | float) and isinstance(row[2], int | float)}

    return await influx.query_into(q, take)


async def stale_marks(influx: InfluxHttp, devices: Sequence[str], from_ms: int, to_ms: int) -> dict[Key, int]:
    """The latest mark per (device, block) over the blocks holding [from_ms, to_ms]."""
    q = marks_query(devices, from_ms, to_ms)

    def take(answer: list[Series]) -> dict[Key, int]:
        return {(s.tags.get("device", ""), int(t)): int(m) for s in answer for t, m in s.values
                if isinstance(m, int | float)}

    return await influx.query_into(q, take)


def _current(key: Key, stored: dict[Key, Stored], marks: dict[Key, int]) -> bool:
    block = stored.get(key)
    return block is not None and not stale(marks.get(key), block.settled_at_ms)


def _unpacked(device: str, starts: range, stored: dict[Key, Stored], from_ms: int, to_ms: int) -> Columns:
    times: list[int] = []
    values: list[float] = []
    for s in starts:
        data = stored[(device, s)].data
        if data:
            ts, vs = unpack(data)
            times += ts
            values += vs
    first, last = bisect_left(times, from_ms), bisect_right(times, to_ms)
    return times[first:last], values[first:last]


def _holds_its_readings(key: Key, stored: dict[Key, Stored], marks: dict[Key, int]) -> bool:
    """Current, and not a block too big to pack (stored with its count only)."""
    return _current(key, stored, marks) and (bool(stored[key].data) or stored[key].n == 0)


async def settled_columns(influx: InfluxHttp, quantity: str, devices: Sequence[str],
                          from_ms: int, to_ms: int) -> dict[str, Columns]:
    """The readings in [from_ms, to_ms] of the devices whose blocks there are all current."""
    stored, marks = await asyncio.gather(
        stored_blocks(influx, quantity, devices, from_ms, to_ms, with_data=True),
        stale_marks(influx, devices, from_ms, to_ms),
    )
    starts = block_starts(from_ms, to_ms)
    out = {}
    for device in devices:
        if not all(_holds_its_readings((device, s), stored, marks) for s in starts):
            continue
        try:
            out[device] = _unpacked(device, starts, stored, from_ms, to_ms)
        except BlockError as exc:
            log.warning("a block of %s (%s) does not unpack, its readings are read instead: %s",
                        device, quantity, exc)
    return out


def _data_queries(quantity: str, wanted: Sequence[Key]) -> list[str]:
    """The packed data of the (device, block) pairs: one statement per block start."""
    by_start: dict[int, list[str]] = {}
    for device, start in wanted:
        by_start.setdefault(start, []).append(device)
    return [f'SELECT "data" FROM "{MEASUREMENT}" WHERE "quantity" = {influxql.quote(quantity)} '
            f'AND {influxql.devices(devices)} AND time >= {start}ms AND time < {start + BLOCK_MS}ms '
            f'GROUP BY "device"' for start, devices in sorted(by_start.items())]


DATA_REQUESTS = 2
"""The data statements are sent in this many requests at once: InfluxDB runs the statements
of one request in turn, on one core."""


async def _block_data(influx: InfluxHttp, quantity: str, wanted: Sequence[Key]) -> dict[Key, str]:
    def take(answers: list[list[Series]]) -> dict[Key, str]:
        return {(s.tags.get("device", ""), int(row[0])): row[1] for answer in answers for s in answer
                for row in s.values if isinstance(row[1], str)}

    statements = _data_queries(quantity, wanted)
    found = await asyncio.gather(*(influx.query_many_into(statements[k::DATA_REQUESTS], take)
                                   for k in range(min(DATA_REQUESTS, len(statements)))))
    return {key: data for part in found for key, data in part.items()}


Plan = tuple[str, Cuts | None]
"""A block's plan (`Thinning.plan_stored`) and, for "cuts", the Cuts it keeps."""
_READ = ("thin", "whole")
"""The plans that read a block's data."""


def _assembled(device: str, starts: range, stored: dict[Key, Stored], plans: dict[Key, Plan],
               data: dict[Key, str], thinning: Thinning) -> Thinned | None:
    """A device's readings over the blocks, thinned where planned; None if a block it needs
    has no data (too big to pack). BlockError if one does not unpack."""
    parts: list[Part] = []
    for start in starts:
        block, (plan, cuts) = stored[(device, start)], plans[(device, start)]
        if block.n == 0:
            continue
        packed = data.get((device, start), "") if plan in _READ else ""
        if plan in _READ and not packed:
            return None
        parts.append(Part(block.summary, plan, unpack_arrays(packed) if packed else None, cuts))
    return thin_blocks(parts, thinning)


def _sliced(readings: Thinned, from_ms: int, to_ms: int) -> Thinned:
    """The readings in [from_ms, to_ms] and the elisions in it; an elision across an end is kept
    whole, with the reading past the end, so no reading in the range goes missing unseen."""
    times, values, elided = readings
    first, last = bisect_left(times, from_ms), bisect_right(times, to_ms)
    afters = {e.after_ms for e in elided}
    if 0 < first < len(times) and times[first - 1] in afters:
        first -= 1
    if 0 < last < len(times) and times[last - 1] in afters:
        last += 1
    if first >= last:
        return [], [], []
    kept = [e for e in elided if times[first] <= e.after_ms and e.before_ms <= times[last - 1]]
    return times[first:last], values[first:last], kept


async def thin_settled_columns(influx: InfluxHttp, quantity: str, thinning: dict[str, Thinning],
                               from_ms: int, to_ms: int) -> dict[str, Thinned]:
    """`settled_columns`, most readings elided (cloud.attribution.elision): the blocks'
    summaries and stale marks first, then the data of only the blocks that a needed time
    touches or that are not elidable. A device's elisions make its result differ nowhere as
    long as the needed times are all the times attribution looks at (engine.refused checks)."""
    devices = sorted(thinning)
    if not devices:
        return {}
    thinning = {d: t.near(from_ms, to_ms) for d, t in thinning.items()}
    stored, marks = await asyncio.gather(
        stored_blocks(influx, quantity, devices, from_ms, to_ms, with_data=False, with_summary=True),
        stale_marks(influx, devices, from_ms, to_ms),
    )
    starts = block_starts(from_ms, to_ms)
    usable = [d for d in devices if all(_current((d, s), stored, marks) for s in starts)]
    plans: dict[Key, Plan] = {(d, s): thinning[d].plan_stored(stored[(d, s)].summary, stored[(d, s)].cuts)
                              for d in usable for s in starts}
    data = await _block_data(influx, quantity, [key for key, (plan, _) in plans.items()
                                                if plan in _READ and stored[key].n > 0])
    out = {}
    for device in usable:
        try:
            readings = _assembled(device, starts, stored, plans, data, thinning[device])
        except BlockError as exc:
            log.warning("a block of %s (%s) does not unpack, its readings are read instead: %s",
                        device, quantity, exc)
            continue
        if readings is not None:
            out[device] = _sliced(readings, from_ms, to_ms)
    return out


async def _raw_columns(influx: InfluxHttp, quantity: str, devices: Sequence[str],
                       from_ms: int, to_ms: int) -> dict[str, Columns]:
    q = (f'SELECT "{quantity}" FROM "reading" WHERE {influxql.devices(devices)} '
         f'AND {_grid(from_ms, to_ms)} GROUP BY "device"')

    def take(answer: list[Series]) -> dict[str, Columns]:
        return {s.tags.get("device", ""): s.number_columns() for s in answer}

    return await influx.query_into(q, take)


@dataclass(frozen=True)
class Packing:
    """What a meter's blocks are packed with: its poll interval, the reach of a cut (as
    `Thinning.touching` has it), and the cut times known (sorted)."""

    poll_ms: int
    reach_ms: float
    cut_times: list[int]


async def _settle_chunk(influx: InfluxHttp, quantity: str, devices: dict[str, Packing], first: int, last: int,
                        now_ms: int) -> Settled:
    """Pack the missing or stale blocks of `devices` starting in [first, last] (block starts)."""
    stored, marks = await asyncio.gather(
        stored_blocks(influx, quantity, list(devices), first, last, with_data=False),
        stale_marks(influx, list(devices), first, last),
    )
    starts = block_starts(first, last)
    todo = [(d, s) for d in devices for s in starts if not _current((d, s), stored, marks)]
    if not todo:
        return Settled(0, len(devices) * len(starts), 0, 0)
    raw = await _raw_columns(influx, quantity, sorted({d for d, _ in todo}), first, last)
    lines: list[str] = []
    too_big = readings = 0
    for device, start in todo:
        block = block_of(device, quantity, start, *raw.get(device, ([], [])))
        packing = devices[device]
        line, fits = block_line(block, now_ms, packing.poll_ms, packing.cut_times, packing.reach_ms)
        lines.append(line)
        readings += len(block.times) if fits else 0
        too_big += not fits
    for k in range(0, len(lines), WRITE_LINES):
        await influx.write_lines(lines[k:k + WRITE_LINES], precision="ms")
    return Settled(len(lines), len(devices) * len(starts) - len(todo), readings, too_big)


async def settle(influx: InfluxHttp, plant: PlantModel, from_ms: int, to_ms: int, now_ms: int,
                 delay_ms: int = SETTLE_DELAY_MS) -> Settled:
    """Pack every block of the plant's meters holding [from_ms, to_ms] that ended `delay_ms`
    before `now_ms` and is missing or stale. `now_ms` is stamped on the blocks as their packing
    time: it must be read before any reading is (it is: the caller's clock, at the start)."""
    last_start = min(block_start(to_ms), block_start(now_ms - delay_ms - BLOCK_MS))
    groups: dict[str, list[str]] = {}
    for m in plant.meters:
        groups.setdefault(m.quantity, []).append(m.id)
    changes = {m.id: change_points(curves_for(plant.factor_sets, m).values()) for m in plant.meters}
    meters = {m.id: m for m in plant.meters}
    totals = Settled(0, 0, 0, 0)
    for chunk in range(block_start(from_ms), last_start + 1, CHUNK_MS):
        chunk_last = min(chunk + CHUNK_MS - BLOCK_MS, last_start)
        events = await _batch_event_times(influx, chunk - CUT_LOOKAROUND_MS,
                                          chunk_last + BLOCK_MS + CUT_LOOKAROUND_MS)
        for quantity, ids in groups.items():
            for k in range(0, len(ids), DEVICES_PER_STATEMENT):
                packing = {i: _packing(plant, meters[i], events, changes[i])
                           for i in ids[k:k + DEVICES_PER_STATEMENT]}
                done = await _settle_chunk(influx, quantity, packing, chunk, chunk_last, now_ms)
                totals = totals.plus(done)
    return totals


CUT_LOOKAROUND_MS = 600_000
"""Batch events this far outside a chunk are looked up for its blocks' cuts (a cut's reach
is a few poll intervals)."""


async def _batch_event_times(influx: InfluxHttp, from_ms: int, to_ms: int) -> list[int]:
    q = (f'SELECT "batch_id" FROM "event" WHERE "kind" =~ /^(batch_started|batch_ended)$/ '
         f"AND {influxql.between(from_ms, to_ms)}")
    return sorted({int(row[0]) for series in await influx.query(q) for row in series.values})


def _packing(plant: PlantModel, meter: Meter, events: list[int], changes: list[int]) -> Packing:
    poll = poll_ms(meter)
    return Packing(poll, cut_reach_ms(plant.gap_factor * poll), sorted({*events, *changes}))
