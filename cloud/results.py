"""InfluxDB I/O for attribution: load what a window's batches need, store `batch_result` points.

The only attribution module with I/O; it talks to InfluxDB through cloud.influx alone.
A stored result is replaced (same series, same time: the batch start) only when a fresh
computation differs from it, e.g. after late data landed; its `revision` then goes up by one.

What is loaded is bounded by the batches computed, not by the plant: events over the window
(+/- MARGIN_MS, to pair starts and ends), then only the counters of those batches' lines and
of the shared meters serving them, over the batches' span plus the few nearest readings
outside it (enough to interpolate a boundary and to recognise a glitch there), times and
values only, in as few statements as possible: InfluxDB 1.x charges each per series.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloud import influxql
from cloud import lineprotocol as lp
from cloud.attribution.batches import BatchEvent, BatchWindow, pair_batches
from cloud.attribution.counters import Columns, Sample, columns, with_samples
from cloud.attribution.elision import Elision, elision_allowed, needed_times, poll_ms, rate_per_ms, within
from cloud.attribution.engine import Attribution, Inputs, attribute, counter_spec, refused
from cloud.attribution.model import BatchResult, BatchSummary
from cloud.attribution.scrap import Weighing
from cloud.blocks import BLOCK_MS, SETTLE_DELAY_MS, Thinning, block_start
from cloud.influx import InfluxHttp, Series
from cloud.settle import settled_columns, thin_settled_columns
from config.plant import Meter, PlantModel

MARGIN_MS = 3_600_000
"""Events this far outside the window are loaded to pair batches; readings are looked for this
far outside a batch span for the nearest ones (LIMIT), never loaded wholesale."""
MAX_BATCH_MS = 31 * 86_400_000
"""How far past the window the end of a batch starting in it is looked for (cathode calcination
runs 10-20 h; a batch open longer than a month is treated as still open)."""
_VOLATILE = {"computed_at_ms", "revision"}
_SUMMARY_NUMBERS = (
    "end_ms", "energy_kwh", "shared_energy_kwh", "co2e_kg_location", "co2e_kg_market", "completeness",
    "scrap_total_kg", "alarms", "good_units", "reject_units", "kwh_per_good_unit", "kwh_per_cell_kwh",
    "diversion_rate", "diversion_rate_true", "energy_recovery_kg", "revision", "computed_at_ms",
)
"""Numeric fields of a `batch_result` point that a list reads instead of parsing `detail`."""
_INTEGRAL = {"end_ms", "alarms", "revision", "computed_at_ms"}


@dataclass(frozen=True)
class Window:
    from_ms: int
    to_ms: int

    def where(self, margin_ms: int = 0) -> str:
        return influxql.between(self.from_ms - margin_ms, self.to_ms + margin_ms)


@dataclass(frozen=True)
class Outcome:
    written: list[BatchResult]
    unchanged: list[BatchResult]
    attribution: Attribution

    def current(self) -> list[BatchResult]:
        return sorted(self.written + self.unchanged, key=lambda r: (r.start_ms, r.line, r.batch_id))


@dataclass(frozen=True)
class Stored:
    """What the comparison needs of a stored result: its digest, revision and computation time."""

    digest: str
    revision: int
    computed_at_ms: int


def _devices(meters: Sequence[Meter]) -> str:
    return influxql.devices(m.id for m in meters)


async def _series_samples(influx: InfluxHttp, q: str, into: dict[str, list[Sample]]) -> None:
    """Run a GROUP BY device query of one field; append (time, value) per device, nulls skipped."""
    await influx.query_into(q, lambda answer: _add_samples(answer, into))


def _add_samples(answer: list[Series], into: dict[str, list[Sample]]) -> None:
    for series in answer:
        times, values = series.number_columns()
        into.setdefault(series.tags.get("device", ""), []).extend(map(Sample, times, values))


async def _series_columns(influx: InfluxHttp, q: str, into: dict[str, Columns]) -> None:
    """Run a GROUP BY device query of one field; each device's readings as Columns."""
    def take(answer: list[Series]) -> None:
        for series in answer:
            device = series.tags.get("device", "")
            readings = columns(*series.number_columns())
            known = into.get(device)
            into[device] = readings if not known or not known[0] else with_samples(
                known, list(map(Sample, *readings)))

    await influx.query_into(q, take)


EDGE_REACH_POLLS = 3
"""The span query reaches `edge` + this many poll intervals past each end of the span."""
QUERIES_IN_PARALLEL = 2
"""A span's meters are read in this many queries at once: InfluxDB runs a statement on one
core, and the client parses one answer while the server still works on the other."""


def _by_quantity(meters: Sequence[Meter]) -> dict[str, list[Meter]]:
    """Meters grouped by the counter field they are read by (one statement reads one field)."""
    groups: dict[str, list[Meter]] = {}
    for m in meters:
        groups.setdefault(m.quantity, []).append(m)
    return groups


@dataclass(frozen=True)
class SpanGroup:
    """Meters read by one counter field, and the span widened for their edge readings."""

    quantity: str
    meters: list[Meter]
    wider: Window


def span_groups(meters: Sequence[Meter], span: Window, edge: int) -> list[SpanGroup]:
    """Per counter field, the span widened by `edge` + EDGE_REACH_POLLS poll intervals."""
    groups = []
    for quantity, group in _by_quantity(meters).items():
        reach = math.ceil((edge + EDGE_REACH_POLLS) * max(m.poll_interval_s for m in group) * 1000)
        groups.append(SpanGroup(quantity, group, Window(span.from_ms - reach, span.to_ms + reach)))
    return groups


def _group_queries(groups: Sequence[SpanGroup]) -> list[str]:
    """Each group's readings, its meters split over QUERIES_IN_PARALLEL statements."""
    queries = []
    for g in groups:
        size = math.ceil(len(g.meters) / QUERIES_IN_PARALLEL)
        queries += [f'SELECT "{g.quantity}" FROM "reading" WHERE {_devices(g.meters[k:k + size])} '
                    f'AND {g.wider.where()} GROUP BY "device"' for k in range(0, len(g.meters), size)]
    return queries


def span_queries(meters: Sequence[Meter], span: Window, edge: int) -> list[str]:
    """The statements `load_samples` reads a span's readings with (when no settled block serves)."""
    return _group_queries(span_groups(meters, span, edge))


@dataclass(frozen=True)
class Elided:
    """Where a load may thin settled blocks (cloud.attribution.elision), and what it left out."""

    thinning: dict[str, Thinning]
    """meter -> its needed times and limits; a meter not here is read whole."""
    elided: dict[str, list[Elision]]
    """Filled by the load: meter -> the elisions of its loaded readings."""


async def _group_from_blocks(influx: InfluxHttp, g: SpanGroup, thin: Elided | None
                             ) -> dict[str, tuple[list[int], list[float], list[Elision]]]:
    ids = [m.id for m in g.meters]
    thinning = {i: thin.thinning[i] for i in ids if i in thin.thinning} if thin is not None else {}
    whole = [i for i in ids if i not in thinning]
    found = await asyncio.gather(
        thin_settled_columns(influx, g.quantity, thinning, g.wider.from_ms, g.wider.to_ms),
        settled_columns(influx, g.quantity, whole, g.wider.from_ms, g.wider.to_ms) if whole else _nothing(),
    )
    return {**found[0], **{d: (ts, vs, []) for d, (ts, vs) in found[1].items()}}


async def _nothing() -> dict[str, Columns]:
    return {}


async def _from_blocks(influx: InfluxHttp, groups: list[SpanGroup], settled_before_ms: int,
                       into: dict[str, Columns], thin: Elided | None) -> list[SpanGroup]:
    """Fill `into` from settled blocks where every block of a meter's widened span is current
    (thinned, the elisions into `thin.elided`, where `thin` allows); return the groups of the
    meters still to be read as readings."""
    ready = [g for g in groups if block_start(g.wider.to_ms) + BLOCK_MS <= settled_before_ms]
    found = await asyncio.gather(*(_group_from_blocks(influx, g, thin) for g in ready))
    served = set()
    for readings in found:
        for device, (times, values, elided) in readings.items():
            into[device] = columns(times, values)
            if elided and thin is not None:
                thin.elided[device] = elided
            served.add(device)
    rest = [SpanGroup(g.quantity, [m for m in g.meters if m.id not in served], g.wider) for g in groups]
    return [g for g in rest if g.meters]


def _edges_kept(elided: list[Elision], times: list[int], begin: int, first: int, last: int, end: int) -> bool:
    """No elision among a span's edge readings and its first and last (kept by index, as the
    whole readings would be)."""
    if not elided or not times:
        return True
    zones = [(times[begin], times[min(first, len(times) - 1)]), (times[max(last - 1, 0)], times[end - 1])]
    return not any(within(elided, a, b) for a, b in zones)


async def load_columns(
    influx: InfluxHttp, meters: Sequence[Meter], span: Window, edge: int = 1,
    settled_before_ms: int | None = None, thin: Elided | None = None,
) -> dict[str, Columns]:
    """Counter readings of `meters` in `span`, plus the `edge` nearest ones before and after it.

    One query per counter field reads the span widened by a few poll intervals, where a
    meter that kept polling has its edge readings; where that whole widened span ended before
    `settled_before_ms`, current settled blocks (cloud.settle) serve it instead, the very same
    readings in a few points, thinned where `thin` allows (most readings left out, their
    elisions put in `thin.elided`). InfluxDB 1.x charges every statement per series it touches
    (tens of ms for a line's meters), so the nearest readings are looked up further out (up to
    MARGIN_MS, with LIMIT) only for the meters that have too few nearby.
    """
    wide: dict[str, Columns] = {}
    groups = span_groups(meters, span, edge)
    if settled_before_ms is not None:
        groups = await _from_blocks(influx, groups, settled_before_ms, wide, thin)
    await asyncio.gather(*(_series_columns(influx, q, wide) for q in _group_queries(groups)))
    loaded: dict[str, Columns] = {}
    short_before: list[Meter] = []
    short_after: list[Meter] = []
    thick: list[Meter] = []
    for m in meters:
        times, values = wide.get(m.id, ([], []))
        first, last = bisect_left(times, span.from_ms), bisect_right(times, span.to_ms)
        begin, end = max(0, first - edge), min(len(times), last + edge)
        if thin is not None and m.id in thin.elided:
            elided = thin.elided.pop(m.id)
            if not _edges_kept(elided, times, begin, first, last, end):
                thick.append(m)
                continue
            if begin < end:
                thin.elided[m.id] = within(elided, times[begin], times[end - 1])
        loaded[m.id] = times[begin:end], values[begin:end]
        if first - begin < edge:
            short_before.append(m)
        if end - last < edge:
            short_after.append(m)
    if thick:  # a meter whose edge readings an elision reaches into (it stopped polling there)
        loaded.update(await load_columns(influx, thick, span, edge, settled_before_ms))
    far = [f'SELECT "{quantity}" FROM "reading" WHERE {_devices(group)} AND {where}'
           for meters_of_side, where in (
               (short_before, f'time >= {max(0, span.from_ms - MARGIN_MS)}ms AND time < {span.from_ms}ms '
                              f'GROUP BY "device" ORDER BY time DESC LIMIT {edge}'),
               (short_after, f'time > {span.to_ms}ms AND time <= {span.to_ms + MARGIN_MS}ms '
                             f'GROUP BY "device" ORDER BY time ASC LIMIT {edge}'))
           for quantity, group in _by_quantity(meters_of_side).items()]
    farther: dict[str, list[Sample]] = {}
    await asyncio.gather(*(_series_samples(influx, q, farther) for q in far))
    # a reading found twice (nearby and again further out) is one time: with_samples keeps one
    for device, extra in farther.items():
        loaded[device] = with_samples(loaded[device], extra)
    return loaded


async def load_samples(
    influx: InfluxHttp, meters: Sequence[Meter], span: Window, edge: int = 1,
    settled_before_ms: int | None = None,
) -> dict[str, list[Sample]]:
    """`load_columns` as samples."""
    loaded = await load_columns(influx, meters, span, edge, settled_before_ms)
    return {meter: list(map(Sample, *readings)) for meter, readings in loaded.items()}


def _number(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    return float(value) if isinstance(value, int | float) else None


def _batch_event(row: dict[str, Any]) -> BatchEvent:
    counters = json.loads(row["counters"]) if isinstance(row.get("counters"), str) else {}
    return BatchEvent(
        kind=row["kind"], ts_ms=int(row["time"]), line=row.get("line") or "", batch_id=row["batch_id"],
        product=row.get("product") or "", good_units=_number(row, "good_units"),
        reject_units=_number(row, "reject_units"), counters=counters,
    )


def _weighing(row: dict[str, Any]) -> Weighing:
    return Weighing(
        ts_ms=int(row["time"]), device=row["device"], weighing_seq=int(row.get("weighing_seq") or 0),
        mass_kg=float(row.get("mass_kg") or 0.0), category=row.get("category") or "",
        destination=row.get("destination") or "", line=row.get("line") or None,
        batch_id=row.get("batch_id") or None,
    )


def events_query(window: Window) -> str:
    return _events_between(window.from_ms - MARGIN_MS, window.to_ms + MARGIN_MS)


def _events_between(from_ms: int, to_ms: int, kinds: str = "batch_started|batch_ended|scrap_weighed") -> str:
    return f'SELECT * FROM "event" WHERE "kind" =~ /^({kinds})$/ AND {Window(from_ms, to_ms).where()}'


async def _event_rows(influx: InfluxHttp, q: str) -> list[dict[str, Any]]:
    return [row for series in await influx.query(q) for row in series.rows()]


def _unended_starts(rows: list[dict[str, Any]], window: Window) -> set[tuple[str, str]]:
    """(line, batch id) of the batches starting by the window's end whose end is not among `rows`."""
    ended = {(r.get("line") or "", r.get("batch_id")) for r in rows if r.get("kind") == "batch_ended"}
    return {key for r in rows if r.get("kind") == "batch_started" and r.get("batch_id")
            and int(r["time"]) <= window.to_ms
            and (key := (r.get("line") or "", r["batch_id"])) not in ended}


def _later_ends_query(window: Window) -> str:
    """Batch ends (ids only) from past the window's events' margin to MAX_BATCH_MS after it."""
    later = Window(window.to_ms + MARGIN_MS + 1, window.to_ms + MAX_BATCH_MS)
    return f"SELECT \"batch_id\", \"line\" FROM \"event\" WHERE \"kind\" = 'batch_ended' AND {later.where()}"


def _reach_of_long_batches(rows: list[dict[str, Any]], later_ends: list[dict[str, Any]],
                           window: Window) -> int:
    """The latest first end among `later_ends` of the batches started by the window's end
    that outlast its events' margin (0: none does)."""
    unended = _unended_starts(rows, window)
    first_ends: dict[tuple[str, str], int] = {}
    for r in later_ends:
        key = (r.get("line") or "", r.get("batch_id") or "")
        if key in unended:
            first_ends[key] = min(first_ends.get(key, int(r["time"])), int(r["time"]))
    return max(first_ends.values(), default=0)


def _lookback_query(window: Window) -> str:
    """Batch starts and ends (ids only) from MAX_BATCH_MS before the window to its events'."""
    before = Window(window.from_ms - MAX_BATCH_MS, window.from_ms - MARGIN_MS - 1)
    return (f'SELECT "batch_id", "kind", "line" FROM "event" WHERE "kind" =~ /^(batch_started|batch_ended)$/ '
            f"AND {before.where()}")


def _running_in(lookback: list[dict[str, Any]], near: list[dict[str, Any]], window: Window
                ) -> list[dict[str, Any]]:
    """The lookback's start rows (ids and times) of the batches that had not ended by the
    window's events and did not end before the window either: on a shared meter they run
    beside the window's batches."""
    key = _batch_key
    ended = {key(r) for r in lookback if r.get("kind") == "batch_ended"}
    ended |= {key(r) for r in near if r.get("kind") == "batch_ended" and int(r["time"]) < window.from_ms}
    return [r for r in lookback
            if r.get("kind") == "batch_started" and r.get("batch_id") and key(r) not in ended]


async def _no_rows() -> list[dict[str, Any]]:
    return []


def _batch_key(row: dict[str, Any]) -> tuple[str, str]:
    return row.get("line") or "", row.get("batch_id") or ""


STARTS_CLUSTER_MS = 6 * 3_600_000
"""Start events this close together are read by one statement over their span: InfluxDB
charges a statement about a millisecond, and a plant starts a few batches an hour."""


def _clustered(times: list[int], within_ms: int) -> list[Window]:
    """Sorted times as the spans of runs whose neighbours are at most `within_ms` apart."""
    spans: list[Window] = []
    for t in times:
        if spans and t - spans[-1].to_ms <= within_ms:
            spans[-1] = Window(spans[-1].from_ms, t)
        else:
            spans.append(Window(t, t))
    return spans


async def _whole_starts(influx: InfluxHttp, starts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The start events of `starts` (rows with ids and times) with all their fields."""
    if not starts:
        return []
    wanted = {_batch_key(r) for r in starts}
    statements = [f"SELECT * FROM \"event\" WHERE \"kind\" = 'batch_started' AND {span.where()}"
                  for span in _clustered(sorted({int(r["time"]) for r in starts}), STARTS_CLUSTER_MS)]
    rows: list[dict[str, Any]] = await influx.query_many_into(statements, lambda answers: [
        row for answer in answers for series in answer for row in series.rows()])
    return [r for r in rows if _batch_key(r) in wanted]


async def load_events(influx: InfluxHttp, window: Window) -> tuple[list[BatchEvent], list[Weighing]]:
    """Batch events and weighings in the window +/- MARGIN_MS, and on to the end (+ MARGIN_MS)
    of any batch starting by the window's end that runs longer, and the starts of the batches
    running into it from further back: a 10 h batch is paired and gets its weighings however
    narrow the window asked for, and shares a shared meter with every batch beside it."""
    near, lookback, later_ends = await asyncio.gather(_event_rows(influx, events_query(window)),
                                                      _event_rows(influx, _lookback_query(window)),
                                                      _event_rows(influx, _later_ends_query(window)))
    running_in = _running_in(lookback, near, window)
    reach = _reach_of_long_batches(running_in + near, later_ends, window)
    whole_starts, later = await asyncio.gather(
        _whole_starts(influx, running_in),
        _event_rows(influx, _events_between(window.to_ms + MARGIN_MS + 1, reach + MARGIN_MS)) if reach
        else _no_rows())
    rows = whole_starts + near + later
    batch_events = [_batch_event(r) for r in rows
                    if r.get("kind") in ("batch_started", "batch_ended") and r.get("batch_id")]
    weighings = [_weighing(r) for r in rows if r.get("kind") == "scrap_weighed"]
    return batch_events, weighings


def meters_for(plant: PlantModel, lines: set[str]) -> list[Meter]:
    """The lines' own meters and every shared meter that serves one of them."""
    return [m for m in plant.meters
            if m.line in lines or (m.shared and (not m.serves or bool(lines.intersection(m.serves))))]


def _targets(batch_events: list[BatchEvent], window: Window) -> list[BatchWindow]:
    return [w for w in pair_batches(batch_events) if window.from_ms <= w.start_ms <= window.to_ms]


async def load_inputs(influx: InfluxHttp, plant: PlantModel, window: Window,
                      settled_before_ms: int | None = None) -> Inputs:
    """Everything needed to attribute the complete batches starting in the window, and no more;
    readings from settled blocks where they ended before `settled_before_ms` (see load_samples)."""
    batch_events, weighings = await load_events(influx, window)
    targets = _targets(batch_events, window)
    if not targets:
        return Inputs({}, batch_events, weighings, starting_in=(window.from_ms, window.to_ms))
    span = Window(min(w.start_ms for w in targets), max(w.end_ms for w in targets))
    meters = meters_for(plant, {w.line for w in targets})
    # glitch_max_samples + 1 outside each boundary: a glitch run at the edge is still recognised
    edge = plant.glitch_max_samples + 1
    period = (span.from_ms, span.to_ms)
    thin = None if settled_before_ms is None else _thinning(plant, meters, batch_events, targets, period)
    readings = await load_columns(influx, meters, span, edge, settled_before_ms, thin)
    inputs = Inputs({}, batch_events, weighings, period=period, starting_in=(window.from_ms, window.to_ms),
                    columns=readings, elided=thin.elided if thin is not None else {})
    refusals = refused(plant, inputs, period)
    if not refusals:
        return inputs
    whole = await load_columns(influx, [m for m in meters if m.id in refusals], span, edge, settled_before_ms)
    return replace(inputs, columns={**readings, **whole},
                   elided={k: v for k, v in inputs.elided.items() if k not in refusals})


def _thinning(plant: PlantModel, meters: Sequence[Meter], events: list[BatchEvent],
              targets: list[BatchWindow], period: tuple[int, int]) -> Elided:
    """Thinning for the meters whose readings may be elided (cloud.attribution.elision)."""
    thinning = {}
    for m in meters:
        spec = counter_spec(plant, m)
        if elision_allowed(spec):
            poll = poll_ms(m)
            needed = needed_times(plant, m, events, targets, period)
            thinning[m.id] = Thinning(needed, rate_per_ms(spec), poll, plant.gap_factor * poll,
                                      [(w.start_ms, w.end_ms) for w in targets])
    return Elided(thinning, {})


async def load_results(influx: InfluxHttp, window: Window) -> list[BatchResult]:
    """Whole results (their `detail`): for one batch's full view or a report that needs every map."""
    rows = [row for s in await influx.query(f'SELECT "detail" FROM "batch_result" WHERE {window.where()}')
            for row in s.rows()]
    return [BatchResult.model_validate_json(r["detail"]) for r in rows if isinstance(r.get("detail"), str)]


def _summary(row: dict[str, Any]) -> BatchSummary:
    numbers = {k: row[k] for k in _SUMMARY_NUMBERS if isinstance(row.get(k), int | float)}
    numbers.update({k: int(numbers[k]) for k in _INTEGRAL if k in numbers})
    return BatchSummary.model_validate({
        "batch_id": row["batch_id"], "line": row.get("line") or "", "product": row.get("product") or "",
        "start_ms": int(row["time"]), **numbers,
    })


async def load_summaries(influx: InfluxHttp, window: Window) -> list[BatchSummary]:
    """The numbers of every stored result in the window, without touching `detail`: for lists."""
    fields = ", ".join(f'"{k}"' for k in _SUMMARY_NUMBERS)
    q = (f'SELECT "batch_id"::tag, "line"::tag, "product"::tag, {fields} FROM "batch_result" '
         f"WHERE {window.where()}")
    return [_summary(row) for s in await influx.query(q) for row in s.rows()
            if isinstance(row.get("energy_kwh"), int | float)]


async def _stored(influx: InfluxHttp, window: Window) -> dict[str, Stored]:
    q = (f'SELECT "batch_id"::tag, "digest", "revision", "computed_at_ms" FROM "batch_result" '
         f"WHERE {window.where()}")
    out = {}
    for row in (row for s in await influx.query(q) for row in s.rows()):
        if isinstance(row.get("digest"), str) and isinstance(row.get("revision"), int | float):
            computed = int(row.get("computed_at_ms") or 0)
            out[row["batch_id"]] = Stored(row["digest"], int(row["revision"]), computed)
    return out


def digest(result: BatchResult) -> str:
    """What a result says, without when it was computed: equal digests need no new revision."""
    return hashlib.sha256(result.model_dump_json(exclude=_VOLATILE).encode()).hexdigest()


def result_line(result: BatchResult) -> str:
    fields: dict[str, lp.FieldValue] = {
        "energy_kwh": result.energy_kwh, "shared_energy_kwh": result.shared_energy_kwh,
        "co2e_kg_location": result.co2e_kg_location, "co2e_kg_market": result.co2e_kg_market,
        "completeness": result.completeness, "scrap_total_kg": result.scrap_total_kg,
        "energy_recovery_kg": result.energy_recovery_kg,
        "alarms": float(len(result.alarms)), "revision": float(result.revision),
        "computed_at_ms": float(result.computed_at_ms), "end_ms": float(result.end_ms),
        "digest": digest(result), "detail": result.model_dump_json(),
    }
    optional = {"diversion_rate": result.diversion_rate, "diversion_rate_true": result.diversion_rate_true,
                "good_units": result.good_units, "reject_units": result.reject_units,
                "kwh_per_good_unit": result.kwh_per_good_unit, "kwh_per_cell_kwh": result.kwh_per_cell_kwh}
    fields.update({k: float(v) for k, v in optional.items() if v is not None})
    tags = {"batch_id": result.batch_id, "line": result.line, "product": result.product}
    return lp.line("batch_result", tags, fields, result.start_ms)


def revise(
    fresh: Iterable[BatchResult], stored: dict[str, Stored]
) -> tuple[list[BatchResult], list[BatchResult]]:
    """(results to write with their new revision, results that still hold as stored).

    Compared by the stored `digest` field, so no stored `detail` is parsed; an unchanged
    result is the fresh one with the stored revision and computation time, i.e. what is stored.
    """
    written, unchanged = [], []
    for result in fresh:
        old = stored.get(result.batch_id)
        if old is not None and old.digest == digest(result):
            unchanged.append(result.model_copy(
                update={"revision": old.revision, "computed_at_ms": old.computed_at_ms}))
        else:
            revision = old.revision + 1 if old is not None else 1
            written.append(result.model_copy(update={"revision": revision}))
    return written, unchanged


async def recompute(influx: InfluxHttp, plant: PlantModel, window: Window, now_ms: int,
                    settled: bool = True) -> Outcome:
    """Attribute every complete batch starting in the window; write the ones that changed.

    Readings that settled (SETTLE_DELAY_MS before `now_ms`) come from current settled blocks
    where `cloud settle` packed them (`settled=False`: always from the readings themselves)."""
    # what is stored is read while the inputs load: one round trip less to wait for
    inputs, stored = await asyncio.gather(
        load_inputs(influx, plant, window, now_ms - SETTLE_DELAY_MS if settled else None),
        _stored(influx, Window(window.from_ms - MARGIN_MS, window.to_ms + MARGIN_MS)),
    )
    attribution = attribute(plant, inputs, computed_at_ms=now_ms)
    fresh = [r for r in attribution.results if window.from_ms <= r.start_ms <= window.to_ms]
    written, unchanged = revise(fresh, stored)
    if written:
        await influx.write_lines([result_line(r) for r in written], precision="ms")
    return Outcome(written, unchanged, attribution)
