"""Energy from cumulative counters, with every discontinuity classified and bridged.

A meter's samples become a `CounterTrack`: the accepted samples with an *unwrapped* counter
(exact fractions) that only grows by energy we can vouch for. Energy over a window is the
unwrapped value at its end minus at its start, interpolated linearly between samples, which
equals the sum of the valid increments of every consecutive pair inside it (rollovers included).

Rules, applied to each new sample v after the last accepted sample p:
1. a declared reset/replacement between them: old_final - p (if given) + v - new_start;
2. a single short run that leaves the monotone path and comes back (spurious zero, torn read,
   spike) is a glitch: the run is dropped;
3. v < p with a rollover value R and a plausible wrapped increment R - p + v: rollover;
4. anything else that is not a plausible increase (a drop, or faster than max_power_kw):
   unexplained; it credits no energy and raises an alarm.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction

from cloud.attribution.model import DiscontinuityKind

MS_PER_HOUR = 3_600_000
POWER_TOLERANCE = Fraction(5, 4)
"""Increases up to 125 % of max_power_kw over the interval are plausible (noise, clock jitter)."""
POWER_SLACK_KWH = Fraction(1, 10)
"""Plus one display step of the coarsest common counter (0.1 kWh), so slow meters never alarm."""


@dataclass(frozen=True)
class Sample:
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


@dataclass
class CounterTrack:
    times: list[int] = field(default_factory=list)
    unwrapped: list[Fraction] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)

    def at(self, ts_ms: int) -> Fraction:
        """Unwrapped counter at `ts_ms`, linear between samples, held flat outside the data."""
        if not self.times:
            return Fraction(0)
        i = bisect_right(self.times, ts_ms)
        if i == 0:
            return self.unwrapped[0]
        if i == len(self.times):
            return self.unwrapped[-1]
        t0, t1 = self.times[i - 1], self.times[i]
        u0, u1 = self.unwrapped[i - 1], self.unwrapped[i]
        return u0 + (u1 - u0) * Fraction(ts_ms - t0, t1 - t0)

    def energy(self, start_ms: int, end_ms: int) -> Fraction:
        return self.at(end_ms) - self.at(start_ms)

    def covers(self, ts_ms: int) -> bool:
        return bool(self.times) and self.times[0] <= ts_ms <= self.times[-1]


def normalise(samples: list[Sample]) -> list[Sample]:
    """Sorted by time, one sample per timestamp (the lowest), so order and duplicates never matter."""
    out: list[Sample] = []
    for s in sorted(samples, key=lambda s: (s.ts_ms, s.value)):
        if not out or out[-1].ts_ms != s.ts_ms:
            out.append(s)
    return out


def _plausible_limit(spec: CounterSpec, dt_ms: int) -> Fraction | None:
    if spec.max_power_kw is None:
        return None
    return Fraction(spec.max_power_kw) * Fraction(dt_ms, MS_PER_HOUR) * POWER_TOLERANCE + POWER_SLACK_KWH


def _declared_between(spec: CounterSpec, t0: int, t1: int) -> DeclaredBreak | None:
    return next((d for d in spec.declared if t0 < d.at_ms <= t1), None)


def _glitch_run(samples: list[Sample], i: int, prev: Sample, spec: CounterSpec) -> int:
    """Length of the run starting at i that leaves the path from `prev` and comes back; 0 if none."""
    v = samples[i].value
    for j in range(i + 1, min(i + 1 + spec.glitch_max_samples, len(samples))):
        n = samples[j]
        if _declared_between(spec, prev.ts_ms, n.ts_ms):
            return 0
        if v < prev.value and n.value >= prev.value:
            return j - i
        if v > prev.value and prev.value <= n.value < v:
            return j - i
        if v > prev.value:
            return 0  # a spike is one sample; the next one decides
    return 0


def _step(prev: Sample, cur: Sample, spec: CounterSpec) -> tuple[Fraction, DiscontinuityKind | None, str]:
    """Energy credited from prev to cur and the break kind (None: an ordinary increment)."""
    declared = _declared_between(spec, prev.ts_ms, cur.ts_ms)
    p, v = Fraction(prev.value), Fraction(cur.value)
    if declared is not None:
        if v < Fraction(declared.new_start):
            return Fraction(0), "unexplained", f"below the declared new start {declared.new_start}"
        before = Fraction(declared.old_final) - p if declared.old_final is not None else Fraction(0)
        return max(before, Fraction(0)) + v - Fraction(declared.new_start), declared.kind, declared.detail
    limit = _plausible_limit(spec, cur.ts_ms - prev.ts_ms)
    if v >= p:
        if limit is not None and v - p > limit:
            return Fraction(0), "unexplained", f"rise of {float(v - p):g} kWh exceeds max_power_kw"
        return v - p, None, ""
    if spec.rollover is not None:
        wrapped = Fraction(spec.rollover) - p + v
        bound = limit if limit is not None else Fraction(spec.rollover) / 10
        if 0 <= wrapped <= bound:
            return wrapped, "rollover", ""
    return Fraction(0), "unexplained", f"drop of {float(p - v):g} kWh"


def build_track(samples: list[Sample], spec: CounterSpec) -> CounterTrack:
    """Classify every step of one meter's counter and build its unwrapped track."""
    ordered = normalise(samples)
    track = CounterTrack()
    if not ordered:
        return track
    prev = ordered[0]
    track.times.append(prev.ts_ms)
    track.unwrapped.append(Fraction(0))
    i = 1
    while i < len(ordered):
        cur = ordered[i]
        run = 0 if _declared_between(spec, prev.ts_ms, cur.ts_ms) else _glitch_run(ordered, i, prev, spec)
        if run:
            track.breaks.append(Break(prev.ts_ms, cur.ts_ms, prev.value, cur.value, "glitch", Fraction(0),
                                      f"{run} sample(s) dropped"))
            i += run
            continue
        energy, kind, detail = _step(prev, cur, spec)
        if kind is not None:
            track.breaks.append(Break(prev.ts_ms, cur.ts_ms, prev.value, cur.value, kind, energy, detail))
        track.times.append(cur.ts_ms)
        track.unwrapped.append(track.unwrapped[-1] + energy)
        prev = cur
        i += 1
    return track
