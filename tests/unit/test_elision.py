"""Elided readings, pure parts: thinned blocks give the very result of the whole readings, and
the engine refuses elisions that would not."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.attribution.batches import BatchEvent, pair_batches
from cloud.attribution.completeness import completeness
from cloud.attribution.counters import Columns
from cloud.attribution.elision import Elision, alone_in_slots, needed_times, poll_ms, rate_per_ms
from cloud.attribution.emissions import change_points, curves_for
from cloud.attribution.engine import Inputs, attribute, counter_spec, refused
from cloud.blocks import (
    BLOCK_MS,
    KEPT_AROUND,
    Cuts,
    Part,
    Thinning,
    block_of,
    block_starts,
    cut_reach_ms,
    cuts_from,
    cuts_of,
    cuts_text,
    elidable,
    phase_arc,
    summary_from,
    summary_of,
    summary_text,
    thin_blocks,
)
from cloud.blocks import thinned as thinned_block
from config.plant import PlantModel

S = 10_000
HOUR = 3_600_000
T0 = 1_700_000_123_000
END = T0 + 6 * HOUR


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


PLANT = PlantModel.model_validate({
    "lines": [{"id": "line1"}, {"id": "line2"}],
    "meters": [{"id": "m1", "line": "line1", "poll_interval_s": 10, "max_power_kw": 800},
               {"id": "m2", "line": "line2", "poll_interval_s": 10, "rollover_kwh": 100_000},
               {"id": "dry", "shared": True, "poll_interval_s": 10}],
    "factor_sets": [{"name": "loc", "version": "v1", "basis": "location", "default": {"series": [
        {"from": iso(0), "g_per_kwh": 300}, {"from": iso(T0 + 2 * HOUR + 4_321), "g_per_kwh": 250}]}}],
})


def series(rng: random.Random, trouble: str) -> Columns:
    """10 s polls with a little jitter, a counter rising unevenly, and one kind of trouble."""
    times, values = [], []
    value = 99_500.0 if trouble == "rollover" else rng.uniform(0, 99_000)
    for k in range((END - T0) // S + 1):
        if trouble == "gap" and 900 <= k < 940:
            continue
        if trouble == "missing" and rng.random() < 0.1:
            continue
        times.append(T0 + k * S + rng.randrange(0, 40))
        value += rng.uniform(0.5, 1.5)
        values.append(value)
    if trouble == "glitch":
        values[1000] = 0.0
    if trouble == "rollover":
        values = [v % 100_000 for v in values]
    if trouble == "too fast":
        values[1200:] = [v + 500 for v in values[1200:]]
    return times, values


def events(rng: random.Random) -> list[BatchEvent]:
    out = []
    windows = (("line1", "A", 0.1, 4.3), ("line2", "B", 1.0, 2.9), ("line2", "C", 3.2, 5.5))
    for line, batch, start, end in windows:
        s = T0 + int(start * HOUR) + rng.randrange(0, 60_000)
        e = T0 + int(end * HOUR) + rng.randrange(0, 60_000)
        out += [BatchEvent("batch_started", s, line, batch, "cell"),
                BatchEvent("batch_ended", e, line, batch, "cell", good_units=100.0)]
    return out


def thinned(meter_id: str, readings: Columns, thinning: Thinning, cut_times: list[int] | None = None,
            plans: Counter[str] | None = None) -> tuple[Columns, list[Elision]]:
    """What cloud.settle assembles from stored blocks, from the pure parts alone; with the
    readings around `cut_times` stored in each block (through their stored text) if given."""
    times, values = readings
    parts = []
    reach = (KEPT_AROUND + 1) * thinning.gap_limit_ms
    for start in block_starts(times[0], times[-1]):
        block = block_of(meter_id, "energy_import_kwh", start, times, values)
        summary = summary_of(block.times, block.values, thinning.poll_ms)
        if summary is not None:
            cuts = None if cut_times is None else cuts_from(cuts_text(
                cuts_of(block.times, block.values, cut_times, thinning.poll_ms, reach)))
            plan = thinning.plan(summary, cuts)
            unread = plan in ("summary", "cuts")
            parts.append(Part(summary, plan, None if unread else (block.times, block.values), cuts))
            if plans is not None:
                plans[plan] += 1
    kept_times, kept_values, elided = thin_blocks(parts, thinning)
    return (kept_times, kept_values), elided


def numbers(inputs: Inputs) -> list[dict[str, object]]:
    return [r.model_dump() for r in attribute(PLANT, inputs, computed_at_ms=0).results]


@dataclass(frozen=True)
class Case:
    whole: dict[str, Columns]
    full: Inputs
    thin: Inputs
    refusals: set[str]
    plans: Counter[str]

    def accepted(self) -> Inputs:
        """The thinned inputs with the refused meters read whole, as results.load_inputs does."""
        return Inputs({}, self.full.batch_events, period=self.full.period,
                      columns={**self.thin.columns, **{m: self.whole[m] for m in self.refusals}},
                      elided={m: e for m, e in self.thin.elided.items() if m not in self.refusals})


def case(seed: int, trouble: str, cuts: str = "none") -> Case:
    """`cuts`: "none" stored, every cut time "known" when the blocks were packed, or "some"."""
    rng = random.Random(seed)
    whole = {"m1": series(rng, trouble), "m2": series(rng, "rollover"), "dry": series(rng, "none")}
    batch_events = events(rng)
    period = (min(e.ts_ms for e in batch_events), max(e.ts_ms for e in batch_events))
    targets = pair_batches(batch_events)
    columns, elided = dict(whole), {}
    plans: Counter[str] = Counter()
    for m in PLANT.meters:
        spec = counter_spec(PLANT, m)
        needed = needed_times(PLANT, m, batch_events, targets, period)
        thinning = Thinning(needed, rate_per_ms(spec), poll_ms(m), PLANT.gap_factor * poll_ms(m),
                            [(w.start_ms, w.end_ms) for w in targets])
        changes = change_points(curves_for(PLANT.factor_sets, m).values())
        known = sorted({e.ts_ms for e in batch_events} | set(changes))
        cut_times = {"none": None, "known": known, "some": [t for t in known if rng.random() < 0.5]}[cuts]
        columns[m.id], elided[m.id] = thinned(m.id, whole[m.id], thinning, cut_times, plans)
    thin = Inputs({}, batch_events, period=period, columns=columns, elided=elided)
    return Case(whole, Inputs({}, batch_events, period=period, columns=whole), thin,
                refused(PLANT, thin, period), plans)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), trouble=st.sampled_from(["none", "gap", "missing", "glitch", "rollover",
                                                            "too fast"]),
       cuts=st.sampled_from(["none", "known", "some"]))
def test_thinned_readings_give_the_result_of_the_whole_readings(seed: int, trouble: str, cuts: str) -> None:
    c = case(seed, trouble, cuts)
    if trouble in ("glitch", "rollover"):
        assert "m1" in c.refusals  # a break elsewhere in the series: classified whole
    assert numbers(c.accepted()) == numbers(c.full)


@pytest.mark.parametrize("cuts", ["none", "known"])
def test_thinning_keeps_few_of_an_ordinary_meters_readings(cuts: str) -> None:
    c = case(0, "none", cuts)
    assert c.refusals == {"m2"}  # its rollover is a break
    # with every cut known when packed, no elidable block needs its data read
    assert (c.plans["thin"] == 0 and c.plans["cuts"] > 0) if cuts == "known" else c.plans["cuts"] == 0
    for meter in ("m1", "dry"):
        assert len(c.thin.columns[meter][0]) < len(c.whole[meter][0]) / 4
        assert len(c.thin.columns[meter][0]) + sum(e.readings for e in c.thin.elided[meter]) == len(
            c.whole[meter][0])


def test_an_elision_over_a_needed_time_is_refused_and_attribute_will_not_use_it() -> None:
    times = list(range(T0, END, S))
    values = [float(k) for k in range(len(times))]
    batch_events = [BatchEvent("batch_started", T0 + HOUR + 5, "line1", "A", "cell"),
                    BatchEvent("batch_ended", T0 + 2 * HOUR + 5, "line1", "A", "cell")]
    # keep every tenth reading: the batch's start falls inside an elision
    kept = times[::10]
    elided = [Elision(a, b, 9, S, S) for a, b in pairwise(kept)]
    inputs = Inputs({}, batch_events, period=(T0 + HOUR + 5, T0 + 2 * HOUR + 5),
                    columns={"m1": (kept, values[::10])}, elided={"m1": elided})
    assert refused(PLANT, inputs, (T0 + HOUR + 5, T0 + 2 * HOUR + 5)) == {"m1"}
    with pytest.raises(ValueError, match="elided readings of m1 would change the result"):
        attribute(PLANT, inputs, computed_at_ms=0)


def test_completeness_counts_elided_readings_and_their_steps_bridge_no_gap() -> None:
    times = [T0 + k * S for k in range(361)]
    whole = completeness("m1", times, T0, T0 + HOUR, S, 2.5)
    kept = [times[0], times[1], times[180], times[359], times[360]]
    elided = [Elision(times[1], times[180], 178, S, S), Elision(times[180], times[359], 178, S, S)]
    assert completeness("m1", kept, T0, T0 + HOUR, S, 2.5, elided) == whole
    with pytest.raises(ValueError, match="cannot be counted unseen"):
        completeness("m1", kept, T0 + 5 * S, T0 + HOUR, S, 2.5, elided)
    with pytest.raises(ValueError, match="cannot be counted unseen"):
        completeness("m1", kept, T0, T0 + HOUR, S, 2.5, [e._replace(max_step_ms=3 * S) for e in elided])


@pytest.mark.parametrize(("change", "elidable_after"), [
    ({}, True),
    ({"values": "fall"}, False),
    ({"values": "fast"}, False),
    ({"times": "close"}, False),
    ({"times": "gap"}, False),
])
def test_a_block_is_elidable_only_when_every_step_is_ordinary_a_slot_of_its_own_and_no_gap(
        change: dict[str, str], elidable_after: bool) -> None:
    times = [T0 + k * S for k in range(60)]
    values = [100.0 + 1.0 * k + 0.3 * math.sin(k) for k in range(60)]
    if change.get("values") == "fall":
        values[30] = values[29] - 1
    if change.get("values") == "fast":
        values[30:] = [v + 50 for v in values[30:]]
    if change.get("times") == "close":
        times[30] = times[29] + S // 2
    if change.get("times") == "gap":
        times[30:] = [t + 3 * S for t in times[30:]]
    summary = summary_of(times, values, S)
    assert summary is not None
    assert elidable(summary, rate_per_ms(counter_spec(PLANT, PLANT.meters[0])), S, 2.5 * S) is elidable_after


def test_a_block_thinned_around_a_needed_time_keeps_its_neighbours() -> None:
    times = [T0 - T0 % BLOCK_MS + k * S for k in range(60)]
    values = [float(k) for k in range(60)]
    summary = summary_of(times, values, S)
    assert summary is not None
    thinning = Thinning([times[30] + 1], None, S, 2.5 * S)
    assert thinning.plan(summary) == "thin"
    (kept, _), elided = thinned("m", (times, values), thinning)
    assert kept == [times[0], *times[26:36], times[59]]
    assert [(e.after_ms, e.before_ms, e.readings) for e in elided] == [
        (times[0], times[26], 25), (times[35], times[59], 23)]
    assert Thinning([times[59] + 10 * S], None, S, 2.5 * S).plan(summary) == "thin"  # near: its edge is kept
    assert Thinning([times[59] + 100 * S], None, S, 2.5 * S).plan(summary) == "summary"


def test_jittered_polls_share_a_slot_only_where_the_slots_start_inside_their_phase() -> None:
    # polls every 10 s, 0-40 ms late, 9,960 ms apart at the closest; one phase wraps past 0
    times = [T0 - T0 % S + k * S + (k * 7919) % 41 - 20 for k in range(60)]
    assert phase_arc(times, S) == (S - 20, 40)
    summary = summary_of(times, [float(k) for k in range(60)], S)
    assert summary is not None
    assert elidable(summary, None, S, 2.5 * S)
    elision = Elision(times[0], times[-1], 58, summary.min_step_ms, summary.max_step_ms, S - 20, 40, S)
    assert alone_in_slots(elision, T0 - T0 % S + 5_000, S)  # slots start mid-way between polls
    assert not alone_in_slots(elision, T0 - T0 % S + 5, S)  # inside the jitter: two polls may share
    slots_from = T0 - T0 % S + 5
    counted = [(slots_from + S // 2, times[-1])]
    assert Thinning([], None, S, 2.5 * S, counted).plan(summary) == "whole"
    elsewhere = [(times[-1] + HOUR, times[-1] + 2 * HOUR)]  # a batch whose slots never reach the block
    assert Thinning([], None, S, 2.5 * S, elsewhere).plan(summary) == "summary"
    assert completeness("m", times, slots_from + S // 2, times[-1], S, 2.5) != completeness(
        "m", times, slots_from + S // 2 + 5_000, times[-1], S, 2.5)  # the slots really differ there


@given(st.lists(st.tuples(st.integers(0, 2**40), st.floats(allow_nan=False, allow_infinity=False, width=64)),
                min_size=1, max_size=50, unique_by=lambda p: p[0]))
def test_a_stored_summary_reads_back_exactly(pairs: list[tuple[int, float]]) -> None:
    pairs.sort()
    summary = summary_of([t for t, _ in pairs], [v for _, v in pairs], S)
    assert summary is not None
    assert summary_from(summary.n, summary_text(summary)) == summary


@pytest.mark.parametrize("stored", [None, 3.0, "", "not base64!", "AAAA"])
def test_a_missing_or_foreign_summary_reads_as_none(stored: object) -> None:
    assert summary_from(5, stored) is None


CUT_SHORT = cuts_text(Cuts([1], [0], ([1], [1.0])))[:-4]


@pytest.mark.parametrize("stored", [None, "", "not base64!", "AAAA", CUT_SHORT])
def test_missing_or_foreign_cuts_read_as_none(stored: object) -> None:
    assert cuts_from(stored) is None


def test_cuts_hold_the_readings_kept_around_needed_times_near_a_cut_known_when_packed() -> None:
    times = [T0 + k * S for k in range(60)]
    values = [float(k) for k in range(60)]
    summary = summary_of(times, values, S)
    assert summary is not None
    cut = T0 + 30 * S + 7
    cuts = cuts_of(times, values, [cut], S, 6 * 2.5 * S)
    assert cuts_from(cuts_text(cuts)) == cuts
    assert cuts.indexes == list(range(25, 37))

    def kept(touching: list[int]) -> list[int] | None:
        held = cuts.held(summary, touching)
        return None if held is None else held.indexes

    assert kept([cut - S // 2, cut + S]) == list(range(25, 37))
    assert kept([cut + S + 1]) == list(range(27, 37))  # still held
    assert kept([T0 + 33 * S]) is None  # position 37 is not stored
    assert kept([T0 + 50 * S]) is None
    assert kept([T0 - S]) is None  # the first five are not stored


@settings(max_examples=300)
@given(seed=st.integers(0, 2**32 - 1), cut_count=st.integers(0, 4), needed_count=st.integers(1, 4))
def test_a_block_from_its_cuts_is_the_block_thinned_from_its_readings(seed: int, cut_count: int,
                                                                     needed_count: int) -> None:
    rng = random.Random(seed)
    start = T0 - T0 % BLOCK_MS
    times = sorted({start + k * S + rng.randrange(0, 40) for k in range(200) if rng.random() > 0.1})
    values = [float(k) + rng.random() / 2 for k in range(len(times))]
    summary = summary_of(times, values, S)
    assert summary is not None
    reach = cut_reach_ms(2.5 * S)
    span = (times[0] - int(reach), times[-1] + int(reach))
    cut_times = sorted(rng.randrange(*span) for _ in range(cut_count))
    cuts = cuts_from(cuts_text(cuts_of(times, values, cut_times, S, reach)))
    assert cuts is not None
    near_cuts = [t + rng.randrange(-S, S + 1) for t in rng.sample(cut_times, min(needed_count, cut_count))]
    elsewhere = [rng.randrange(*span) for _ in range(needed_count)]
    for needed in (sorted(near_cuts), sorted(elsewhere), sorted(near_cuts + elsewhere)):
        touching = Thinning(needed, None, S, 2.5 * S).touching(summary)
        held = cuts.held(summary, touching)
        if all(any(abs(t - c) <= S for c in cuts.times) for t in touching):
            assert held is not None  # within a poll of a cut known when packed: held
        if held is not None:
            assert held.thinned(summary) == thinned_block(times, values, summary, touching)
