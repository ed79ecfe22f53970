"""Energy from cumulative counters, with every discontinuity classified and bridged.

A meter's samples become a `CounterTrack`: the accepted samples with an *unwrapped* counter
(exact fractions) that only grows by energy we can vouch for. Energy over a window is the
unwrapped value at its end minus at its start, interpolated linearly between samples, which
equals the sum of the valid increments of every consecutive pair inside it (rollovers included).

Rules, applied to each new sample v after the last accepted sample p:
1. a declared reset/replacement between them: old_final - p (if given) + v - new_start;
2. a single short run that leaves the monotone path and comes back (spurious zero, torn read,
   spike) is a glitch: the run is dropped; so is a plateau found when the counter drops back
   onto its path (a high word read ahead for several polls): the samples above the path since
   the last one at or below v are withdrawn and the energy across them is v - that sample;
3. v < p with a rollover value R and a plausible wrapped increment R - p + v: rollover;
4. anything else that is not a plausible increase (a drop, or faster than max_power_kw):
   unexplained; it credits no energy and raises an alarm.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import repeat
from operator import add, itemgetter, le, lt, mul, sub
from typing import NamedTuple

from cloud.attribution.model import DiscontinuityKind

MS_PER_HOUR = 3_600_000
POWER_TOLERANCE = Fraction(5, 4)
"""Increases up to 125 % of max_power_kw over the interval are plausible (noise, clock jitter)."""
POWER_SLACK_KWH = Fraction(1, 10)
"""Plus one display step of the coarsest common counter (0.1 kWh), so slow meters never alarm."""
PLATEAU_MAX_SAMPLES = 120
"""How far back a drop may withdraw a raised plateau (two minutes of 1 Hz polls)."""
_FLOAT_DOUBT = 1e-9
"""Relative band around a float threshold inside which the exact (Fraction) test decides."""


class Sample(NamedTuple):
    """One counter reading. A tuple, so a million of them are cheap and sort as (time, value)."""

    ts_ms: int
    value: float


@dataclass(frozen=True)
class DeclaredBreak:
    at_ms: int
    kind: DiscontinuityKind
    new_start: float
    old_final: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Break:
    """A classified discontinuity between the accepted sample at `from_ms` and the one at `ts_ms`."""

    from_ms: int
    ts_ms: int
    before: float
    after: float
    kind: DiscontinuityKind
    counted: Fraction
    detail: str = ""


@dataclass(frozen=True)
class CounterSpec:
    rollover: float | None = None
    max_power_kw: float | None = None
    glitch_max_samples: int = 3
    declared: tuple[DeclaredBreak, ...] = ()
    plateau_max_samples: int = PLATEAU_MAX_SAMPLES


@dataclass
class CounterTrack:
    """Accepted samples and the exact offsets that unwrap them.

    The unwrapped counter at accepted sample i is Fraction(values[i]) + offsets[k], k the last
    mark <= i: an ordinary step credits v - p, so the sum of credits telescopes, and only a
    break (rollover, declared reset, unexplained) moves the offset. Fractions are therefore made
    only at breaks and at the few instants asked for, never per sample, and stay exact.
    """

    times: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    offsets: list[Fraction] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)

    def unwrapped(self, i: int) -> Fraction:
        """Exact unwrapped counter at accepted sample i (0 at the first one)."""
        return Fraction(self.values[i]) + self.offsets[bisect_right(self.marks, i) - 1]

    def at(self, ts_ms: int) -> Fraction:
        """Unwrapped counter at `ts_ms`, linear between samples, held flat outside the data."""
        if not self.times:
            return Fraction(0)
        i = bisect_right(self.times, ts_ms)
        if i == 0:
            return self.unwrapped(0)
        if i == len(self.times):
            return self.unwrapped(len(self.times) - 1)
        t0, t1 = self.times[i - 1], self.times[i]
        if ts_ms == t0:
            return self.unwrapped(i - 1)
        k = bisect_right(self.marks, i - 1) - 1
        if k + 1 == len(self.marks) or self.marks[k + 1] > i:  # no break between: one offset
            return self.offsets[k] + _between(self.values[i - 1], self.values[i], ts_ms - t0, t1 - t0)
        u0 = self.unwrapped(i - 1)
        return u0 + (self.unwrapped(i) - u0) * Fraction(ts_ms - t0, t1 - t0)

    def energy(self, start_ms: int, end_ms: int) -> Fraction:
        return self.at(end_ms) - self.at(start_ms)

    def covers(self, ts_ms: int) -> bool:
        return bool(self.times) and self.times[0] <= ts_ms <= self.times[-1]


def _between(v0: float, v1: float, dt: int, span: int) -> Fraction:
    """v0 + (v1 - v0) * dt / span, exactly, as one Fraction: a float is an integer over a power
    of two, so both share the larger denominator (six Fraction operations cost five times this)."""
    n0, d0 = v0.as_integer_ratio()
    n1, d1 = v1.as_integer_ratio()
    d = max(d0, d1)
    n0, n1 = n0 * (d // d0), n1 * (d // d1)
    return Fraction(n0 * span + (n1 - n0) * dt, d * span)


def normalise(samples: list[Sample]) -> list[Sample]:
    """Sorted by time, one sample per timestamp (the lowest), so order and duplicates never matter."""
    ts, vs = _columns(samples)
    return [Sample(t, v) for t, v in zip(ts, vs, strict=True)]


def _columns(samples: list[Sample]) -> tuple[list[int], list[float]]:
    """`normalise` as two plain lists (times, values): no per-sample objects in the hot loop."""
    if not samples:
        return [], []
    ts = list(map(itemgetter(0), samples))
    if _strictly_increasing(ts):  # as read from the store: in time order, one per time
        return ts, list(map(itemgetter(1), samples))
    ordered = sorted(samples)  # tuples: by time, then value, so the lowest value comes first
    ts = [s[0] for s in ordered]
    vs = [s[1] for s in ordered]
    if len(set(ts)) == len(ts):
        return ts, vs
    keep = [k for k in range(len(ts)) if k == 0 or ts[k] != ts[k - 1]]
    return [ts[k] for k in keep], [vs[k] for k in keep]


Columns = tuple[list[int], list[float]]
"""A meter's readings as (times, values): sorted by time, one per time, as `normalise` leaves them."""


def columns(times: list[int], values: list[float]) -> Columns:
    """`normalise` for readings already in two lists: as they are when in order (as read from
    the store), sorted with the lowest value kept per time otherwise."""
    if _strictly_increasing(times):
        return times, values
    return _columns(list(zip(times, values, strict=True)))  # type: ignore[arg-type]


def with_samples(readings: Columns, extra: list[Sample]) -> Columns:
    """The readings with a few more samples merged in (the lowest value kept per time)."""
    if not extra:
        return readings
    times, values = list(readings[0]), list(readings[1])
    for t, v in sorted(extra):
        i = bisect_left(times, t)
        if i < len(times) and times[i] == t:
            values[i] = min(values[i], v)
        else:
            times.insert(i, t)
            values.insert(i, v)
    return times, values


def distinct_times(samples: list[Sample]) -> list[int]:
    """The samples' times, sorted and distinct."""
    ts = list(map(itemgetter(0), samples))
    return ts if _strictly_increasing(ts) else sorted(set(ts))


def _strictly_increasing(ts: list[int]) -> bool:
    return all(map(lt, ts[:-1], ts[1:]))


def _plausible_limit(spec: CounterSpec, dt_ms: int) -> Fraction | None:
    if spec.max_power_kw is None:
        return None
    return Fraction(spec.max_power_kw) * Fraction(dt_ms, MS_PER_HOUR) * POWER_TOLERANCE + POWER_SLACK_KWH


def _declared_between(spec: CounterSpec, t0: int, t1: int) -> DeclaredBreak | None:
    return next((d for d in spec.declared if t0 < d.at_ms <= t1), None)


def _too_fast(spec: CounterSpec, p: float, v: float, dt_ms: int) -> bool:
    """v - p > the plausible limit, decided in floats unless the two are within rounding."""
    if spec.max_power_kw is None:
        return False
    rise = v - p
    limit = spec.max_power_kw * dt_ms / MS_PER_HOUR * 1.25 + 0.1
    doubt = _FLOAT_DOUBT * (abs(v) + abs(p) + abs(limit) + 1.0)
    if abs(rise - limit) > doubt:
        return rise > limit
    exact = _plausible_limit(spec, dt_ms)
    return exact is not None and Fraction(v) - Fraction(p) > exact


def _glitch_run(ts: list[int], vs: list[float], i: int, p_ts: int, p: float, spec: CounterSpec) -> int:
    """Length of the run starting at i that leaves the path from p and comes back; 0 if none."""
    v = vs[i]
    if v == p:
        return 0
    for j in range(i + 1, min(i + 1 + spec.glitch_max_samples, len(vs))):
        if spec.declared and _declared_between(spec, p_ts, ts[j]):
            return 0
        n = vs[j]
        if v < p:
            if n >= p:
                return j - i
            continue
        return 1 if p <= n < v else 0  # a spike is one sample; the next one decides
    return 0


def _exact_step(p: float, v: float, dt_ms: int, spec: CounterSpec,
                declared: DeclaredBreak | None) -> tuple[Fraction, DiscontinuityKind, str]:
    """A step that is not an ordinary increase: declared break, rollover or unexplained."""
    pf, vf = Fraction(p), Fraction(v)
    if declared is not None:
        if vf < Fraction(declared.new_start):
            return Fraction(0), "unexplained", f"below the declared new start {declared.new_start}"
        before = Fraction(declared.old_final) - pf if declared.old_final is not None else Fraction(0)
        return max(before, Fraction(0)) + vf - Fraction(declared.new_start), declared.kind, declared.detail
    if vf >= pf:
        return Fraction(0), "unexplained", f"rise of {float(vf - pf):g} kWh exceeds max_power_kw"
    if spec.rollover is not None:
        wrapped = Fraction(spec.rollover) - pf + vf
        limit = _plausible_limit(spec, dt_ms)
        bound = limit if limit is not None else Fraction(spec.rollover) / 10
        if 0 <= wrapped <= bound:
            return wrapped, "rollover", ""
    return Fraction(0), "unexplained", f"drop of {float(pf - vf):g} kWh"


def build_track(samples: list[Sample], spec: CounterSpec) -> CounterTrack:
    """Classify every step of one meter's counter and build its unwrapped track."""
    return track_of(_columns(samples), spec)


def track_of(readings: Columns, spec: CounterSpec) -> CounterTrack:
    """`build_track` of readings as Columns (sorted, one per time).

    One pass over plain ints and floats in local variables: an ordinary increase (nearly every
    step) costs a few float comparisons; anything else goes to `_classify`, and exact
    arithmetic happens only at breaks (see CounterTrack).
    """
    ts, vs = readings
    track = CounterTrack()
    if not ts:
        return track
    track.marks.append(0)
    track.offsets.append(-Fraction(vs[0]))
    # the hot path may only take steps that `_classify` would call ordinary increments
    hot = not spec.declared and spec.glitch_max_samples > 0
    rate = spec.max_power_kw * 1.25 / MS_PER_HOUR if spec.max_power_kw is not None else None
    if hot and all_ordinary(ts, vs, rate):
        track.times, track.values = ts, vs
        return track
    times, values = track.times, track.values
    p_ts, p = ts[0], vs[0]
    times.append(p_ts)
    values.append(p)
    i, n = 1, len(ts)
    while i < n:
        t, v = ts[i], vs[i]
        if hot and v >= p and not (v > p and i + 1 < n and p <= vs[i + 1] < v) and (
            rate is None or v - p + 1e-12 * abs(v) < (rate * (t - p_ts) + 0.1) * (1 - _FLOAT_DOUBT)
        ):
            times.append(t)
            values.append(v)
            p_ts, p = t, v
            i += 1
            continue
        skip = _classify(track, ts, vs, i, spec)
        if skip:
            i += skip
            continue
        p_ts, p = t, v
        i += 1
    return track


def all_ordinary(ts: list[int], vs: list[float], rate: float | None) -> bool:
    """Would the hot path of `build_track` take every step? Decided without a Python-level loop.

    The same float operations in the same order as the hot path's test, so the answer is
    the same bit for bit; a series that never falls needs no spike check (a spike is a rise
    followed by a fall). Nearly every meter's window is such a series.
    """
    if not all(map(le, vs[:-1], vs[1:])):
        return False
    if rate is None:
        return True
    later = vs[1:]
    rises = map(add, map(sub, later, vs[:-1]), map(mul, repeat(1e-12), map(abs, later)))
    limits = map(mul, map(add, map(mul, repeat(rate), map(sub, ts[1:], ts[:-1])), repeat(0.1)),
                 repeat(1 - _FLOAT_DOUBT))
    return all(map(lt, rises, limits))


def _classify(track: CounterTrack, ts: list[int], vs: list[float], i: int, spec: CounterSpec) -> int:
    """The general rule for sample i after the track's last accepted sample.

    Returns how many samples a glitch drops (0: sample i was accepted, with a break if any).
    """
    p_ts, p = track.times[-1], track.values[-1]
    t, v = ts[i], vs[i]
    declared = _declared_between(spec, p_ts, t) if spec.declared else None
    run = 0 if declared is not None else _glitch_run(ts, vs, i, p_ts, p, spec)
    if run:
        track.breaks.append(Break(p_ts, t, p, v, "glitch", Fraction(0), f"{run} sample(s) dropped"))
        return run
    if declared is None and v < p and _withdraw_plateau(track, t, v, spec):
        p_ts, p = track.times[-1], track.values[-1]
    if declared is not None or v < p or _too_fast(spec, p, v, t - p_ts):
        _add_break(track, p_ts, t, p, v, _exact_step(p, v, t - p_ts, spec, declared))
    track.times.append(t)
    track.values.append(v)
    return 0


def _withdraw_plateau(track: CounterTrack, t: int, v: float, spec: CounterSpec) -> bool:
    """On a drop to v: withdraw the accepted samples above v back to the last one at or below it.

    True if a plateau was withdrawn (then v continues the path from that sample). A real
    counter never goes back below a value it has shown, so samples above a later reading
    were misread; without this their rise would be credited and only the drop flagged.
    """
    times, values = track.times, track.values
    first = max(0, len(values) - spec.plateau_max_samples - 1)
    k = next((k for k in range(len(values) - 1, first - 1, -1) if values[k] <= v), None)
    # a plateau starts with a rise about as tall as the drop that ends it; a rollover's
    # drop follows ordinary increments, so it is left to the rollover rule
    if k is None or k == len(values) - 1 or values[k + 1] - values[k] < (values[-1] - v) / 2:
        return False
    withdrawn = len(values) - 1 - k
    from_ms = times[k]
    del times[k + 1:], values[k + 1:]
    while track.marks[-1] > k:
        track.marks.pop()
        track.offsets.pop()
    track.breaks[:] = [b for b in track.breaks if b.ts_ms <= from_ms]
    track.breaks.append(Break(from_ms, t, values[k], v, "glitch", Fraction(0),
                              f"{withdrawn} sample(s) above the path withdrawn"))
    return True


def _add_break(track: CounterTrack, p_ts: int, t: int, p: float, v: float,
               step: tuple[Fraction, DiscontinuityKind, str]) -> None:
    """Record the break and move the offset so the new sample's unwrapped value gains `counted`."""
    counted, kind, detail = step
    track.breaks.append(Break(p_ts, t, p, v, kind, counted, detail))
    # unwrapped(new) = unwrapped(prev) + counted = Fraction(p) + offset + counted
    offset = Fraction(p) + track.offsets[-1] + counted - Fraction(v)
    track.marks.append(len(track.times))
    track.offsets.append(offset)
