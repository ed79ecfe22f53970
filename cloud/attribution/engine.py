"""Composition of the pure steps: samples and events in, one BatchResult per complete batch out."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cloud.attribution import ALGORITHM_VERSION
from cloud.attribution.allocation import MeterShare, allocate_meter
from cloud.attribution.batches import BatchEvent, BatchWindow, pair_batches, snapshots
from cloud.attribution.completeness import completeness, counted_exactly
from cloud.attribution.counters import (
    Break,
    Columns,
    CounterSpec,
    CounterTrack,
    DeclaredBreak,
    Sample,
    build_track,
    distinct_times,
    track_of,
    with_samples,
)
from cloud.attribution.elision import (
    Elision,
    elision_allowed,
    kept_ordinary,
    needed_times,
    poll_ms,
    strictly_inside,
)
from cloud.attribution.emissions import FactorCurve, change_points, co2e_of_segments, curves_for, segments
from cloud.attribution.model import BatchResult, Discontinuity, MeterBalance, MeterCompleteness
from cloud.attribution.scrap import ScrapTotals, Weighing, attribute_scrap
from config.plant import Meter, PlantModel, epoch_ms


@dataclass(frozen=True)
class Inputs:
    samples: dict[str, list[Sample]]
    """meter -> counter readings (its `quantity`), any order, duplicates allowed."""
    batch_events: list[BatchEvent] = field(default_factory=list)
    weighings: list[Weighing] = field(default_factory=list)
    period: tuple[int, int] | None = None
    """Accounting period for the meter balances; default: the span of all data."""
    starting_in: tuple[int, int] | None = None
    """Only results for batches starting in [from, to] (and balances only for their meters);
    the other batches still count for allocation. Default: every complete batch."""
    columns: dict[str, Columns] = field(default_factory=dict)
    """meter -> counter readings as loaded: sorted, one per time (counters.columns). A meter
    here is not looked for in `samples`; no per-reading tuple is made for it."""
    elided: dict[str, list[Elision]] = field(default_factory=dict)
    """meter -> readings left out of its `columns`, in time order (cloud.attribution.elision);
    ValueError from `attribute` where they would change the result (see `refused`)."""


@dataclass(frozen=True)
class Attribution:
    results: list[BatchResult]
    balances: list[MeterBalance]
    shares: dict[str, MeterShare]
    """Exact (fraction) allocation per meter, for conservation checks."""
    unattributed_scrap: ScrapTotals


def counter_spec(plant: PlantModel, meter: Meter) -> CounterSpec:
    declared = tuple(
        DeclaredBreak(epoch_ms(d.at), "declared_reset" if d.kind == "reset" else "replacement",
                      d.new_start_kwh, d.old_final_kwh, f"{d.kind} by {d.by}: {d.reason}")
        for d in plant.discontinuities if d.meter == meter.id
    )
    return CounterSpec(meter.rollover_kwh, meter.max_power_kw, plant.glitch_max_samples, declared)


def _tracks(plant: PlantModel, inputs: Inputs, meters: list[Meter]) -> dict[str, CounterTrack]:
    snaps = snapshots(inputs.batch_events, {m.id: m.quantity for m in meters})
    tracks = {}
    for m in meters:
        extra = [Sample(t, v) for t, v in snaps.get(m.id, [])]
        spec = counter_spec(plant, m)
        if m.id in inputs.columns:
            tracks[m.id] = track_of(with_samples(inputs.columns[m.id], extra), spec)
        else:
            tracks[m.id] = build_track(list(inputs.samples.get(m.id, [])) + extra, spec)
    return tracks


def refused(plant: PlantModel, inputs: Inputs, period: tuple[int, int]) -> set[str]:
    """The meters whose elided readings would change the result: a time attribution looks at
    falls inside an elision, or the kept readings are not all ordinary increases (then the
    whole series must be classified). Their readings must be loaded whole."""
    if not inputs.elided:
        return set()
    targets = _targets(inputs)
    by_id = {m.id: m for m in plant.meters}
    snaps = snapshots(inputs.batch_events, {m.id: m.quantity for m in plant.meters if m.id in inputs.elided})
    out = set()
    for meter_id, elisions in inputs.elided.items():
        meter = by_id.get(meter_id)
        if not elisions or meter is None:
            continue
        spec = counter_spec(plant, meter)
        needed = needed_times(plant, meter, inputs.batch_events, targets, period)
        poll = poll_ms(meter)
        if (not elision_allowed(spec) or strictly_inside(elisions, needed) is not None
                or not all(counted_exactly(elisions, w.start_ms, w.end_ms, poll, plant.gap_factor * poll)
                           for w in targets if _relevant_to(meter, w))
                or not kept_ordinary(inputs.columns.get(meter_id, ([], [])), snaps.get(meter_id, []), spec)):
            out.add(meter_id)
    return out


def _targets(inputs: Inputs) -> list[BatchWindow]:
    return _starting(pair_batches(inputs.batch_events), inputs.starting_in)


def _starting(windows: list[BatchWindow], starting_in: tuple[int, int] | None) -> list[BatchWindow]:
    """The batches reported: those starting in `starting_in`, or every complete batch."""
    if starting_in is None:
        return windows
    return [w for w in windows if starting_in[0] <= w.start_ms <= starting_in[1]]


def _reading_times(inputs: Inputs, meter: str) -> list[int]:
    """Sorted, distinct times of the meter's readings (not of the events' snapshots)."""
    if meter in inputs.columns:
        return inputs.columns[meter][0]
    return distinct_times(inputs.samples.get(meter, []))


def _period(tracks: dict[str, CounterTrack], inputs: Inputs) -> tuple[int, int]:
    if inputs.period is not None:
        return inputs.period
    spans = [(t.times[0], t.times[-1]) for t in tracks.values() if t.times]
    return (min(s for s, _ in spans), max(e for _, e in spans)) if spans else (0, 0)


def attribute(plant: PlantModel, inputs: Inputs, computed_at_ms: int) -> Attribution:
    """Attribute every complete batch; `computed_at_ms` is stamped on the results, never read."""
    windows = pair_batches(inputs.batch_events)
    wanted, meters = _wanted(plant, windows, inputs.starting_in)
    tracks = _tracks(plant, inputs, meters)
    period = _period(tracks, inputs)
    wrong = refused(plant, inputs, period)
    if wrong:
        raise ValueError(f"elided readings of {', '.join(sorted(wrong))} would change the result: "
                         "load them whole")
    keep = None if inputs.starting_in is None else frozenset(w.batch_id for w in wanted)
    curves = {m.id: curves_for(plant.factor_sets, m) for m in meters}
    shares = {
        m.id: allocate_meter(m, tracks[m.id], windows, period, change_points(curves[m.id].values()), keep)
        for m in meters
    }
    scrap, orphans = attribute_scrap(inputs.weighings, windows, plant.scrap)
    times = {m.id: _reading_times(inputs, m.id) for m in meters}
    results = [
        _result(plant, w, tracks, shares, curves, scrap.get(w.batch_id, ScrapTotals()), times, inputs.elided,
                computed_at_ms)
        for w in wanted
    ]
    balances = [
        MeterBalance(meter=s.meter, measured_kwh=float(s.measured), attributed_kwh=float(s.attributed()),
                     idle_kwh=float(s.idle))
        for s in shares.values()
    ]
    return Attribution(results, balances, shares, orphans)


def _wanted(
    plant: PlantModel, windows: list[BatchWindow], starting_in: tuple[int, int] | None
) -> tuple[list[BatchWindow], list[Meter]]:
    """The batches to report and the meters they need: results cost per batch and per meter."""
    if starting_in is None:
        return windows, list(plant.meters)
    wanted = _starting(windows, starting_in)
    needed = {m.id for w in wanted for m in _relevant(plant, w)}
    return wanted, [m for m in plant.meters if m.id in needed]


Curves = dict[str, dict[str, FactorCurve]]
"""meter -> factor set name -> that meter's curve under the set: built once per attribution."""


def _co2e(plant: PlantModel, stretches: dict[str, list[tuple[int, Fraction]]], curves: Curves
          ) -> dict[str, Fraction]:
    return {
        fs.name: sum((co2e_of_segments(ss, curves[m][fs.name]) for m, ss in stretches.items()), Fraction(0))
        for fs in plant.factor_sets
    }


def _first_of(plant: PlantModel, basis: str, co2e: dict[str, Fraction]) -> float:
    return next((float(co2e[fs.name]) for fs in plant.factor_sets if fs.basis == basis), 0.0)


def _relevant(plant: PlantModel, w: BatchWindow) -> list[Meter]:
    return [m for m in plant.meters if _relevant_to(m, w)]


def _relevant_to(m: Meter, w: BatchWindow) -> bool:
    return m.line == w.line or (m.shared and (not m.serves or w.line in m.serves))


def _result(
    plant: PlantModel, w: BatchWindow, tracks: dict[str, CounterTrack], shares: dict[str, MeterShare],
    curves: Curves, scrap: ScrapTotals, times: dict[str, list[int]], elided: dict[str, list[Elision]],
    computed_at_ms: int,
) -> BatchResult:
    meters = _relevant(plant, w)
    comp = {
        m.id: completeness(m.id, times.get(m.id, []), w.start_ms, w.end_ms, poll_ms(m), plant.gap_factor,
                           elided.get(m.id, ()))
        for m in meters
    }
    breaks = [(m.id, b) for m in meters for b in tracks[m.id].breaks
              if b.from_ms < w.end_ms and b.ts_ms > w.start_ms]
    ul, true = scrap.rates()
    return BatchResult(
        batch_id=w.batch_id, line=w.line, product=w.product, start_ms=w.start_ms, end_ms=w.end_ms,
        **_energy_fields(plant, w, meters, shares, curves),
        good_units=w.good_units, reject_units=w.reject_units,
        scrap_kg=dict(sorted(scrap.by_category.items())),
        scrap_by_destination_kg=dict(sorted(scrap.by_destination.items())),
        scrap_total_kg=scrap.total, diversion_rate=ul, diversion_rate_true=true,
        energy_recovery_kg=scrap.energy_recovery,
        completeness=_overall(comp), completeness_by_meter=comp,
        discontinuities=[_discontinuity(m, b) for m, b in breaks],
        alarms=[*w.alarms, *_break_alarms(breaks), *_coverage_alarms(w, meters, tracks), *scrap.alarms],
        algorithm_version=ALGORITHM_VERSION, computed_at_ms=computed_at_ms,
    )


def _energy_fields(
    plant: PlantModel, w: BatchWindow, meters: list[Meter], shares: dict[str, MeterShare], curves: Curves
) -> dict[str, Any]:
    """kWh own and shared, CO2e per factor set and specific energy, rounded to float only here."""
    # per meter, the batch's energy summed between factor change points: summed once, then
    # multiplied once per factor set, instead of per piece (a shared meter has one per interval)
    stretches = {
        m.id: segments(shares[m.id].by_batch.get(w.batch_id, []), change_points(curves[m.id].values()))
        for m in meters
    }
    totals = {m.id: sum((kwh for _, kwh in stretches[m.id]), Fraction(0)) for m in meters}
    own = {m.id: totals[m.id] for m in meters if not m.shared}
    shared = {m.id: totals[m.id] for m in meters if m.shared}
    co2e = _co2e(plant, stretches, curves)
    total = sum(own.values(), Fraction(0)) + sum(shared.values(), Fraction(0))
    good = w.good_units
    product = plant.products.get(w.product)
    cell_kwh = product.cell_kwh if product is not None else None
    return {
        "energy_kwh": float(sum(own.values(), Fraction(0))),
        "energy_by_meter_kwh": {k: float(v) for k, v in own.items()},
        "shared_energy_kwh": float(sum(shared.values(), Fraction(0))),
        "shared_by_meter_kwh": {k: float(v) for k, v in shared.items()},
        "co2e_kg_location": _first_of(plant, "location", co2e),
        "co2e_kg_market": _first_of(plant, "market", co2e),
        "co2e_kg_by_factor_set": {k: float(v) for k, v in co2e.items()},
        "factor_sets": {fs.name: fs.version for fs in plant.factor_sets},
        "kwh_per_good_unit": float(total / Fraction(good)) if good else None,
        "kwh_per_cell_kwh": float(total / Fraction(good) / Fraction(cell_kwh)) if good and cell_kwh else None,
    }


def _overall(comp: dict[str, MeterCompleteness]) -> float:
    expected = sum(c.expected for c in comp.values())
    return sum(c.present for c in comp.values()) / expected if expected else 0.0


def _discontinuity(meter: str, b: Break) -> Discontinuity:
    return Discontinuity(meter=meter, ts_ms=b.ts_ms, before=b.before, after=b.after, kind=b.kind,
                         counted_kwh=float(b.counted), detail=b.detail)


def _break_alarms(breaks: list[tuple[str, Break]]) -> list[str]:
    return [f"meter {m}: unexplained counter change {b.before:g} -> {b.after:g} at {b.ts_ms} ms "
            f"({b.detail}); no energy counted" for m, b in breaks if b.kind == "unexplained"]


def _coverage_alarms(w: BatchWindow, meters: list[Meter], tracks: dict[str, CounterTrack]) -> list[str]:
    alarms = []
    for m in meters:
        track = tracks[m.id]
        if not (track.covers(w.start_ms) and track.covers(w.end_ms)):
            alarms.append(f"meter {m.id}: no counter value on both sides of the batch window; "
                          "energy counted only where readings exist")
    return alarms
