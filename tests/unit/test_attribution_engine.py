"""Attribution of meters to batches: hand-computed allocation and CO2e cases, and properties."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.attribution.batches import BatchEvent
from cloud.attribution.completeness import completeness
from cloud.attribution.counters import Sample
from cloud.attribution.engine import Inputs, attribute
from config.plant import PlantModel

S = 10_000


def plant(allocation: str = "runtime", **extra: Any) -> PlantModel:
    dry: dict[str, Any] = {"id": "dry", "shared": True, "allocation": allocation, "supply": "onsite-pv"}
    if allocation == "fixed":
        dry["shares"] = {"line1": 0.5, "line2": 0.3}
    return PlantModel.model_validate({
        "lines": [{"id": "line1"}, {"id": "line2"}],
        "meters": [{"id": "m1", "line": "line1"}, {"id": "m2", "line": "line2"}, dry],
        "products": {"cell": {"cell_kwh": 0.25}},
        "factor_sets": [
            {"name": "loc", "version": "v1", "basis": "location", "default": {"g_per_kwh": 200}},
            {"name": "mkt", "version": "v2", "basis": "market", "default": {"g_per_kwh": 300},
             "routes": {"onsite-pv": {"g_per_kwh": 0}}},
        ],
        **extra,
    })


def ramp(per_step: int, steps: int = 13) -> list[Sample]:
    return [Sample(i * S, float(per_step * i)) for i in range(steps)]


def batch(
    line: str, batch_id: str, start: int, end: int, good: float = 0, reject: float = 0
) -> list[BatchEvent]:
    return [BatchEvent("batch_started", start, line, batch_id, "cell"),
            BatchEvent("batch_ended", end, line, batch_id, "cell", good, reject)]


def two_batches() -> Inputs:
    # m1: 1 kWh / 10 s, m2: 2, dry room: 3. A on line1 [0, 60 s], B on line2 [30, 90 s].
    events = batch("line1", "A", 0, 6 * S, good=100, reject=20) + batch("line2", "B", 3 * S, 9 * S, good=60)
    return Inputs({"m1": ramp(1), "m2": ramp(2), "dry": ramp(3)}, events)


# (allocation key, dry-room kWh to A, to B, idle)
SHARED_CASES = [
    ("runtime", 9 + 4.5, 4.5 + 9, 9),           # alone, then half each, then alone; 90-120 s idle
    ("units", 9 + 6, 3 + 9, 9),                 # A makes 2 units/s, B 1 unit/s while both run
    ("fixed", 4.5 + 4.5, 2.7 + 2.7, 36 - 9 - 5.4),  # line1 0.5, line2 0.3, the rest idle
]


@pytest.mark.parametrize(("key", "to_a", "to_b", "idle"), SHARED_CASES, ids=[c[0] for c in SHARED_CASES])
def test_dry_room_shared_by_key(key: str, to_a: float, to_b: float, idle: float) -> None:
    out = attribute(plant(key), two_batches(), computed_at_ms=123)
    a, b = out.results
    assert (a.batch_id, a.energy_kwh, a.energy_by_meter_kwh) == ("A", 6.0, {"m1": 6.0})
    assert (b.batch_id, b.energy_kwh) == ("B", 12.0)
    assert a.shared_energy_kwh == pytest.approx(to_a, abs=1e-12)
    assert b.shared_energy_kwh == pytest.approx(to_b, abs=1e-12)
    dry = out.shares["dry"]
    assert float(dry.idle) == pytest.approx(idle, abs=1e-12)
    assert dry.attributed() + dry.idle == dry.measured == 36


def test_market_based_with_onsite_solar() -> None:
    a = attribute(plant(), two_batches(), computed_at_ms=0).results[0]
    assert a.co2e_kg_location == pytest.approx((6 + 13.5) * 0.200)
    assert a.co2e_kg_market == pytest.approx(6 * 0.300)  # the dry room runs on on-site PV at 0 g
    assert a.factor_sets == {"loc": "v1", "mkt": "v2"}
    assert a.kwh_per_good_unit == pytest.approx(19.5 / 100)
    assert a.kwh_per_cell_kwh == pytest.approx(19.5 / 25)


def test_time_series_factor_cuts_at_each_step() -> None:
    series = {"series": [{"from": "1970-01-01T00:00:00Z", "g_per_kwh": 100},
                         {"from": "1970-01-01T00:00:45Z", "g_per_kwh": 500}]}
    p = plant(factor_sets=[{"name": "loc", "version": "hourly", "basis": "location", "default": series}])
    a = attribute(p, two_batches(), computed_at_ms=0).results[0]
    own = 4.5 * 0.1 + 1.5 * 0.5
    shared = 9 * 0.1 + 2.25 * 0.1 + 2.25 * 0.5
    assert a.co2e_kg_location == pytest.approx(own + shared)


def test_snapshot_beats_interpolation_at_the_boundary() -> None:
    events = batch("line1", "A", 15_000, 45_000)
    snapshot = {"m1": {"energy_import_kwh": 1.9}}
    events[0] = BatchEvent("batch_started", 15_000, "line1", "A", "cell", counters=snapshot)
    out = attribute(plant(), Inputs({"m1": ramp(1)}, events), computed_at_ms=0)
    # interpolation alone would give 3.0 (1.5 -> 4.5); the snapshot says 1.9 at the start
    assert out.results[0].energy_kwh == pytest.approx(4.5 - 1.9)


def test_unexplained_drop_alarms_on_the_batch_and_counts_nothing() -> None:
    # 100, 101, 102, then 10.5, 11.5, ...: drops and stays down, so not a glitch
    samples = [Sample(i * S, 100.0 + i if i < 3 else 7.5 + i) for i in range(10)]
    out = attribute(plant(), Inputs({"m1": samples}, batch("line1", "A", 0, 6 * S)), computed_at_ms=0)
    a = out.results[0]
    assert a.energy_kwh == 1 + 1 + 0 + 1 + 1 + 1
    assert any("unexplained" in alarm and "m1" in alarm for alarm in a.alarms)


def test_completeness_counts_readings_and_gaps() -> None:
    samples = [s for s in ramp(1) if s.ts_ms not in (2 * S, 3 * S, 4 * S)]
    p = plant(meters=[{"id": "m1", "line": "line1", "poll_interval_s": 10}])
    a = attribute(p, Inputs({"m1": samples}, batch("line1", "A", 0, 6 * S)), computed_at_ms=0).results[0]
    assert a.completeness_by_meter["m1"].present == 4  # 0, 10, 50, 60 s of 6 expected
    assert a.completeness == pytest.approx(4 / 6)
    assert [(g.from_ms, g.to_ms) for g in a.completeness_by_meter["m1"].gaps] == [(S, 5 * S)]


batch_layouts = st.lists(st.integers(min_value=1, max_value=40), min_size=2, max_size=8)


def layout_events(line: str, durations: list[int], offset: int) -> list[BatchEvent]:
    events, t = [], offset
    for i, d in enumerate(durations):
        events += batch(line, f"{line}-{i}", t * 1000, (t + d) * 1000, good=d * 3)
        t += d + (i % 3)  # sometimes adjacent, sometimes a gap
    return events


def noisy_counter(rnd: random.Random, n: int) -> list[Sample]:
    value, out = 99_000, []
    for i in range(n):
        value = (value + rnd.randint(0, 50)) % 100_000
        out.append(Sample(i * 5_000 + rnd.randint(0, 999), float(value)))
        if rnd.random() < 0.05:
            out.append(Sample(i * 5_000 + 1_000 + rnd.randint(0, 999), 0.0))  # spurious zero
    return out


keys = st.sampled_from(["runtime", "units", "fixed"])
randoms = st.randoms(use_true_random=False)
boundaries = st.integers(min_value=1, max_value=59)


@given(batch_layouts, batch_layouts, randoms, keys)
@settings(max_examples=40, deadline=None)
def test_conservation_for_every_meter(one: list[int], two: list[int], rnd: random.Random, key: str) -> None:
    p = plant(key, meters=[{"id": "m1", "line": "line1", "rollover_kwh": 100_000},
                           {"id": "m2", "line": "line2", "rollover_kwh": 100_000},
                           {"id": "dry", "shared": True, "allocation": key, "rollover_kwh": 100_000,
                            **({"shares": {"line1": 0.6, "line2": 0.4}} if key == "fixed" else {})}])
    samples = {m: noisy_counter(rnd, 60) for m in ("m1", "m2", "dry")}
    events = layout_events("line1", one, 3) + layout_events("line2", two, 7)
    out = attribute(p, Inputs(samples, events, period=(0, 300_000)), computed_at_ms=0)
    for share in out.shares.values():
        assert share.attributed() + share.idle == share.measured
        assert share.idle >= 0
    own = sum(Fraction(r.energy_by_meter_kwh["m1"]) for r in out.results if r.line == "line1")
    assert float(own) == pytest.approx(float(out.shares["m1"].attributed()))


@given(boundaries, boundaries, randoms)
@settings(max_examples=40, deadline=None)
def test_moving_a_boundary_between_adjacent_batches_keeps_their_sum(
    t1: int, t2: int, rnd: random.Random
) -> None:
    samples = {m: noisy_counter(rnd, 30) for m in ("m1", "m2", "dry")}
    other = batch("line2", "C", 13_000, 47_000)

    def pair_sum(t: int) -> tuple[Fraction, Fraction]:
        events = batch("line1", "A", 2_000, t * 1000) + batch("line1", "B", t * 1000, 61_000) + other
        out = attribute(plant(), Inputs(samples, events, period=(0, 150_000)), computed_at_ms=0)
        pieces = {m: out.shares[m].by_batch for m in ("m1", "dry")}
        return tuple(  # type: ignore[return-value]
            sum((p.kwh for b in ("A", "B") for p in pieces[m].get(b, [])), Fraction(0)) for m in ("m1", "dry")
        )

    assert pair_sum(t1 + 1) == pair_sum(t2 + 1)


@given(st.randoms(use_true_random=False))
@settings(max_examples=20, deadline=None)
def test_shuffled_or_duplicated_input_gives_identical_results(rnd: random.Random) -> None:
    base = two_batches()
    samples = {m: [*ss, *rnd.sample(ss, 3)] for m, ss in base.samples.items()}
    for ss in samples.values():
        rnd.shuffle(ss)
    events = [*base.batch_events, *base.batch_events[:2]]
    rnd.shuffle(events)
    first = attribute(plant(), base, computed_at_ms=7).results
    again = attribute(plant(), Inputs(samples, events), computed_at_ms=7).results
    assert [r.model_dump_json() for r in again] == [r.model_dump_json() for r in first]


def test_a_meter_answering_around_the_boundary_readings_is_still_complete() -> None:
    # polls every 100 ms; the controller's readings (the boundaries) land 5 ms after their
    # polls, the meter's 3 ms after the first poll and 8 ms after the last: nothing is missing
    times = [k * 100 + (3 if k == 0 else 8) for k in range(331)]
    share = completeness("m1", times, 5, 33_005, 100, 2.5)
    assert (share.present, share.expected) == (330, 330)
    # 331 poll instants touch a 330-poll window, so the count has one reading of slack
    two_missing = completeness("m1", times[:100] + times[102:], 5, 33_005, 100, 2.5)
    assert two_missing.present == 329


@given(batch_layouts, batch_layouts, randoms, keys, st.integers(min_value=0, max_value=60))
@settings(max_examples=40, deadline=None)
def test_attributing_one_batch_gives_it_what_attributing_all_does(
    one: list[int], two: list[int], rnd: random.Random, key: str, cut_s: int
) -> None:
    """A one-batch recompute takes shortcuts (the shared meter's runtime pieces are made for
    that batch only, counted by bisection); the batch's pieces, every meter's balance and the
    result must be those of attributing every batch, exactly. Batches overrun the period on
    both sides, and some intervals have no batch running."""
    p = plant(key, meters=[{"id": "m1", "line": "line1"}, {"id": "m2", "line": "line2"},
                           {"id": "dry", "shared": True, "allocation": key,
                            **({"shares": {"line1": 0.6, "line2": 0.4}} if key == "fixed" else {})}])
    samples = {m: [Sample(i * 5_000 + rnd.randint(0, 999), float(i * rnd.randint(1, 3))) for i in range(70)]
               for m in ("m1", "m2", "dry")}
    events = layout_events("line1", one, 3) + layout_events("line2", two, 7)
    period = (cut_s * 1000, 300_000 - cut_s * 1000)
    every = attribute(p, Inputs(samples, events, period=period), computed_at_ms=0)
    for result in every.results:
        alone = attribute(p, Inputs(samples, events, period=period,
                                    starting_in=(result.start_ms, result.start_ms)), computed_at_ms=0)
        mine = next(r for r in alone.results if r.batch_id == result.batch_id)
        assert mine.model_dump_json() == result.model_dump_json()
        for meter, share in alone.shares.items():
            full = every.shares[meter]
            assert (share.measured, share.given, share.idle) == (full.measured, full.given, full.idle)
            assert share.by_batch.get(result.batch_id) == full.by_batch.get(result.batch_id)
