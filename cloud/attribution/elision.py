"""Elided readings: a long batch's meter readings, most of them summarised instead of listed.

A 10 h batch's 48 meters hold about two million readings, and attribution needs very few of
them: the counter at each cut (batch boundaries, factor changes), the readings around the
batch's edges, and proof that everything between is ordinary. An `Elision` stands for the
readings strictly between two kept ones: how many there are and bounds on their steps, all
ordinary increases (cloud.blocks.elidable). The result is the very one the whole readings
give, as long as
- no time attribution looks at (`needed_times`) falls strictly inside an elision: the
  counter there is interpolated between the same two readings either way;
- the kept readings, with the batch events' counter snapshots, are ordinary increases too
  (`counters.track_of`'s hot path), so the whole series is, and has no break to classify.
`refused` names the meters for which either fails: they are loaded whole.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from cloud.attribution.batches import BatchEvent, BatchWindow
from cloud.attribution.counters import MS_PER_HOUR, Columns, CounterSpec, Sample, all_ordinary, with_samples
from cloud.attribution.emissions import change_points, curves_for
from config.plant import Meter, PlantModel


class Elision(NamedTuple):
    """`readings` readings strictly between the kept readings at `after_ms` and `before_ms`.

    Their steps are bounds over the block they came from (its readings' and its neighbours'),
    and so is their phase: every reading's time modulo `phase_of_ms` lies in the arc of
    `phase_span_ms` from `phase_ms`. A poll's time jitters by a few ms, so two readings less
    than a poll apart may share a completeness slot or not depending on where the slots
    start; the phase tells which (`alone_in_slots`)."""

    after_ms: int
    before_ms: int
    readings: int
    min_step_ms: int
    max_step_ms: int
    phase_ms: int = 0
    phase_span_ms: int = 0
    phase_of_ms: int = 0


class Phased(Protocol):
    """Readings' step and phase bounds: an Elision's, or a settled block's summary."""

    @property
    def min_step_ms(self) -> int: ...
    @property
    def phase_ms(self) -> int: ...
    @property
    def phase_span_ms(self) -> int: ...
    @property
    def phase_of_ms(self) -> int: ...


def alone_in_slots(e: Phased, slots_from_ms: int, poll_ms: int) -> bool:
    """Is each of the elided readings (and its neighbours) the only one in its poll slot, the
    slots counted from `slots_from_ms` (completeness)?

    Two readings less than a poll apart share a slot only when a slot boundary does not fall
    between them. Reading times whose phases (w.r.t. the slots) lie in an arc that does not
    cross a boundary, shorter than every step, never share: a later reading's phase would be
    its predecessor's plus the step, out of the arc."""
    if e.min_step_ms >= poll_ms:
        return True
    if e.phase_of_ms != poll_ms or e.min_step_ms <= e.phase_span_ms:
        return False
    return (e.phase_ms - slots_from_ms) % poll_ms + e.phase_span_ms < poll_ms


def rate_per_ms(spec: CounterSpec) -> float | None:
    """The power test's rate, as counters.track_of computes it."""
    return spec.max_power_kw * 1.25 / MS_PER_HOUR if spec.max_power_kw is not None else None


def elision_allowed(spec: CounterSpec) -> bool:
    """Only a meter whose ordinary steps take track_of's hot path: no declared breaks."""
    return not spec.declared and spec.glitch_max_samples > 0


def poll_ms(meter: Meter) -> int:
    return round(meter.poll_interval_s * 1000)


def needed_times(plant: PlantModel, meter: Meter, events: Iterable[BatchEvent],
                 targets: Iterable[BatchWindow], period: tuple[int, int]) -> list[int]:
    """Every time at which attribution reads `meter`'s readings around one instant (sorted):
    the period's ends, every batch event (a cut, or a counter snapshot), the factor changes,
    and the near edges of each target batch's completeness count."""
    half = poll_ms(meter) // 2
    times = {period[0], period[1], *(e.ts_ms for e in events)}
    times.update(change_points(curves_for(plant.factor_sets, meter).values()))
    for w in targets:
        times.update((w.start_ms - half, w.end_ms + half))
    return sorted(times)


def strictly_inside(elisions: Sequence[Elision], times: Iterable[int]) -> int | None:
    """A time of `times` strictly inside one of the (sorted) elisions, or None."""
    afters = [e.after_ms for e in elisions]
    for t in times:
        k = bisect_left(afters, t) - 1
        if k >= 0 and elisions[k].after_ms < t < elisions[k].before_ms:
            return t
    return None


def kept_ordinary(readings: Columns, snapshots: list[tuple[int, float]], spec: CounterSpec) -> bool:
    """Are the kept readings, with the snapshots merged in as track_of merges them, all ordinary?"""
    times, values = with_samples(readings, [Sample(t, v) for t, v in snapshots])
    return all_ordinary(times, values, rate_per_ms(spec))


def within(elisions: Sequence[Elision], from_ms: int, to_ms: int) -> list[Elision]:
    """The elisions wholly inside [from_ms, to_ms]."""
    afters = [e.after_ms for e in elisions]
    return [e for e in elisions[bisect_left(afters, from_ms):bisect_right(afters, to_ms)]
            if e.before_ms <= to_ms]
