"""Counter energy: hand-computed cases and hypothesis properties (cloud/attribution/counters.py)."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from fractions import Fraction
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.attribution import counters
from cloud.attribution.counters import CounterSpec, DeclaredBreak, Sample, build_track

S = 10_000  # one poll every 10 s


def series(*values: float, start: int = 0) -> list[Sample]:
    return [Sample(start + i * S, v) for i, v in enumerate(values)]


# (name, values, spec, window, expected kWh, break kinds)
CASES = [
    ("plain increments", (100, 101, 103, 106), CounterSpec(), (0, 3 * S), 6, []),
    ("rollover at 100000", (99_998, 99_999, 1, 4), CounterSpec(rollover=100_000), (0, 3 * S), 6,
     ["rollover"]),
    ("spurious zero (glitch)", (50, 51, 0, 53), CounterSpec(), (0, 3 * S), 3, ["glitch"]),
    ("two zeros then back", (50, 51, 0, 0, 53), CounterSpec(), (0, 4 * S), 3, ["glitch"]),
    ("torn read spike", (50, 51, 9_000, 52, 53), CounterSpec(), (0, 4 * S), 3, ["glitch"]),
    ("torn high word for several polls (plateau)", (50, 51, 6_604, 6_605, 6_607, 6_608, 56, 57),
     CounterSpec(), (0, 7 * S), 7, ["glitch"]),
    ("unexplained drop: no energy", (50, 51, 10, 12), CounterSpec(), (0, 3 * S), 1 + 2, ["unexplained"]),
    ("jump beyond max power", (50, 51, 900, 901), CounterSpec(max_power_kw=360), (0, 3 * S), 1 + 1,
     ["unexplained"]),
    ("interpolated boundary", (100, 110, 130), CounterSpec(), (S // 2, S + S // 4), 5 + 5, []),
    ("window beyond data is held flat", (100, 110), CounterSpec(), (-S, 5 * S), 10, []),
]


@pytest.mark.parametrize(("name", "values", "spec", "window", "expected", "kinds"), CASES,
                         ids=[c[0] for c in CASES])
def test_hand_computed(name: str, values: tuple[float, ...], spec: CounterSpec, window: tuple[int, int],
                       expected: float, kinds: list[str]) -> None:
    track = build_track(series(*values), spec)
    assert track.energy(*window) == Fraction(expected)
    assert [b.kind for b in track.breaks] == kinds


def test_meter_swap_mid_batch_counts_both_meters() -> None:
    # old meter at 5000 when last read, 5002 when removed; new meter starts at 0, reads 3 then 7
    swap = DeclaredBreak(int(1.5 * S), "replacement", new_start=0.0, old_final=5002.0, detail="swap by ops")
    track = build_track(series(4999, 5000, 3, 7), CounterSpec(declared=(swap,)))
    assert track.energy(0, 3 * S) == 1 + 2 + 3 + 4
    assert [b.kind for b in track.breaks] == ["replacement"]


def test_declared_reset_without_final_value_counts_from_new_start() -> None:
    reset = DeclaredBreak(int(1.5 * S), "declared_reset", new_start=0.0)
    track = build_track(series(800, 801, 2, 5), CounterSpec(declared=(reset,)))
    assert track.energy(0, 3 * S) == 1 + 2 + 3


def test_value_below_declared_new_start_is_unexplained() -> None:
    swap = DeclaredBreak(int(1.5 * S), "replacement", new_start=100.0)
    track = build_track(series(800, 801, 2, 5), CounterSpec(declared=(swap,)))
    assert [b.kind for b in track.breaks] == ["unexplained"]
    assert track.energy(0, 3 * S) == 1 + 3


increments = st.lists(st.integers(min_value=0, max_value=999), min_size=2, max_size=60)


@given(increments, st.integers(min_value=0, max_value=99_999))
def test_rollover_anywhere_gives_exact_energy(steps: list[int], start: int) -> None:
    rollover = 100_000
    values, total = [], start
    for step in [0, *steps]:
        total += step
        values.append(total % rollover)
    track = build_track(series(*values), CounterSpec(rollover=rollover))
    assert track.energy(0, len(steps) * S) == sum(steps)
    assert all(b.kind == "rollover" for b in track.breaks)


@given(increments, st.integers(min_value=1, max_value=58), st.integers(min_value=1, max_value=S - 1))
def test_spurious_zero_never_adds_energy(steps: list[int], after: int, offset: int) -> None:
    values = [10_000 + sum(steps[:i]) for i in range(len(steps) + 1)]
    samples = series(*values)
    clean = build_track(samples, CounterSpec(rollover=100_000))
    at = min(after, len(samples) - 2) * S + offset  # strictly between two readings
    dirty = build_track([*samples, Sample(at, 0.0)], CounterSpec(rollover=100_000))
    window = (0, len(steps) * S)
    assert dirty.energy(*window) == clean.energy(*window)


@given(increments, st.randoms(use_true_random=False), st.integers(min_value=0, max_value=5))
@settings(max_examples=50)
def test_shuffled_or_duplicated_input_is_bit_identical(
    steps: list[int], rnd: random.Random, dups: int
) -> None:
    values = [sum(steps[:i]) * 0.1 + 5.3 for i in range(len(steps) + 1)]
    samples = series(*values)
    noisy = samples + [rnd.choice(samples) for _ in range(dups)]
    rnd.shuffle(noisy)
    window = (S // 3, len(steps) * S - S // 7)
    a, b = build_track(samples, CounterSpec()), build_track(noisy, CounterSpec())
    assert a.energy(*window) == b.energy(*window)
    assert float(a.energy(*window)).hex() == float(b.energy(*window)).hex()


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.integers(min_value=-4, max_value=4),
       st.integers(min_value=1, max_value=120_000))
def test_max_power_threshold_is_decided_exactly(start: float, ulps: int, dt_ms: int) -> None:
    # rises within a few ulps of the limit: the float fast path must agree with exact arithmetic
    limit = Fraction(360) * Fraction(dt_ms, 3_600_000) * Fraction(5, 4) + Fraction(1, 10)
    end = float(Fraction(start) + limit)
    for _ in range(abs(ulps)):
        end = math.nextafter(end, math.inf if ulps > 0 else -math.inf)
    track = build_track([Sample(0, start), Sample(dt_ms, end)], CounterSpec(max_power_kw=360))
    too_fast = Fraction(end) - Fraction(start) > limit
    assert [b.kind for b in track.breaks] == (["unexplained"] if too_fast else [])
    assert track.energy(0, dt_ms) == (0 if too_fast else Fraction(end) - Fraction(start))


def test_unwrapped_values_are_exact_sums_of_credited_steps() -> None:
    # ordinary steps telescope, the rollover adds R, the unexplained drop credits nothing
    values = (0.1, 0.3, 99_999.9, 0.2, 0.7, 0.05, 0.15)
    track = build_track(series(*values), CounterSpec(rollover=100_000))
    f = [Fraction(v) for v in values]
    steps = [f[1] - f[0], f[2] - f[1], Fraction(100_000) - f[2] + f[3], f[4] - f[3], Fraction(0), f[6] - f[5]]
    assert [b.kind for b in track.breaks] == ["rollover", "unexplained"]
    assert [track.energy(0, k * S) for k in range(1, 7)] == [sum(steps[:k]) for k in range(1, 7)]


POWERS = [None, 0.5, 36.0, 360.0]


@st.composite
def steps_near_the_limits(draw: st.DrawFn, max_power_kw: float | None) -> tuple[int, float]:
    """(dt, rise): mostly small rises, some falls, some within a few ulps of the max-power limit."""
    dt = draw(st.integers(min_value=1, max_value=5_000))
    kind = draw(st.sampled_from(["rise", "fall", "limit"]))
    if kind == "fall":
        return dt, -draw(st.floats(min_value=0, max_value=0.2))
    if kind == "limit" and max_power_kw is not None:
        rise = max_power_kw * dt / 3_600_000 * 1.25 + 0.1
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            rise = math.nextafter(rise, draw(st.sampled_from([math.inf, -math.inf])))
        return dt, rise * draw(st.sampled_from([1.0, 1 - 1e-9, 1 + 1e-9, 0.999, 1.01]))
    return dt, draw(st.floats(min_value=0, max_value=0.2))


@given(st.data(), st.sampled_from(POWERS), st.floats(min_value=0, max_value=1e6, allow_nan=False))
@settings(max_examples=300)
def test_the_never_falling_shortcut_builds_the_same_track_as_the_rules(
    data: st.DataObject, max_power_kw: float | None, start: float
) -> None:
    # a series that never falls and never rises too fast skips the step-by-step rules; they
    # are the definition, so on any series the shortcut must give what they give
    steps = data.draw(st.lists(steps_near_the_limits(max_power_kw), min_size=1, max_size=30))
    samples = [Sample(0, start)]
    for dt, rise in steps:
        samples.append(Sample(samples[-1].ts_ms + dt, samples[-1].value + rise))
    spec = CounterSpec(max_power_kw=max_power_kw)
    fast = build_track(samples, spec)
    with patch.object(counters, "all_ordinary", return_value=False):
        slow = build_track(samples, spec)
    assert (fast.times, fast.values, fast.marks, fast.offsets) == (slow.times, slow.values, slow.marks,
                                                                   slow.offsets)
    assert [(b.ts_ms, b.kind) for b in fast.breaks] == [(b.ts_ms, b.kind) for b in slow.breaks]


samples_any_order = st.lists(st.tuples(st.integers(0, 50), st.floats(0, 100)).map(lambda p: Sample(*p)),
                             max_size=25)


@given(samples_any_order, samples_any_order)
def test_readings_as_columns_with_snapshots_merged_in_are_the_normalised_samples(
    readings: list[Sample], snapshots: list[Sample]
) -> None:
    # the loader hands attribution its readings as two lists and the batch events' counter
    # snapshots are merged into them: the same as normalising all of them as samples
    as_columns = counters.columns([s.ts_ms for s in readings], [s.value for s in readings])
    assert list(map(Sample, *as_columns)) == counters.normalise(readings)
    merged = counters.with_samples(as_columns, snapshots)
    assert list(map(Sample, *merged)) == counters.normalise(readings + snapshots)
    track = counters.track_of(merged, CounterSpec())
    assert track.times == build_track(readings + snapshots, CounterSpec()).times


@settings(max_examples=200)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_counter_between_readings_is_the_exact_interpolation_of_the_unwrapped_ones(seed: int) -> None:
    rng = random.Random(seed)
    value, samples = rng.uniform(960, 1_000), []
    for k in range(40):
        value = value + rng.choice([rng.uniform(0, 2), rng.random() * 1e-9, 0.0])
        samples.append(Sample(k * 1_000 + rng.randrange(0, 7), value % 1_000))  # rolls over now and then
    track = build_track(samples, CounterSpec(rollover=1_000, max_power_kw=10_000))
    for _ in range(60):
        ts = rng.randrange(samples[0].ts_ms, samples[-1].ts_ms + 1)
        i = bisect_right(track.times, ts)
        t0, t1 = track.times[i - 1], track.times[min(i, len(track.times) - 1)]
        u0, u1 = track.unwrapped(i - 1), track.unwrapped(min(i, len(track.times) - 1))
        want = u0 if ts == t0 or t0 == t1 else u0 + (u1 - u0) * Fraction(ts - t0, t1 - t0)
        assert track.at(ts) == want
