"""Split each meter's energy among batches: own meters by window, shared meters by a declared key.

Energies are exact fractions; every interval's energy is either allocated or idle, so for
every meter attributed + idle = measured exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise

from cloud.attribution.batches import BatchWindow
from cloud.attribution.counters import CounterTrack
from config.plant import Allocation, Meter


@dataclass(frozen=True)
class Piece:
    """Energy given to one batch from one meter over [start_ms, end_ms]."""

    start_ms: int
    end_ms: int
    kwh: Fraction


@dataclass
class MeterShare:
    meter: str
    measured: Fraction = Fraction(0)
    idle: Fraction = Fraction(0)
    by_batch: dict[str, list[Piece]] = field(default_factory=dict)
    """Pieces per batch: every batch's, or only those asked for (`keep`)."""
    given: Fraction = Fraction(0)
    """Energy given to any batch: per interval, energy x the sum of its weights (exactly the
    sum of all its pieces, kept or not), so a partial `by_batch` never hides energy."""

    def attributed(self) -> Fraction:
        return self.given


def _cut(start_ms: int, end_ms: int, cuts: list[int]) -> list[tuple[int, int]]:
    points = sorted({start_ms, end_ms, *(c for c in cuts if start_ms < c < end_ms)})
    return list(pairwise(points))


def _weights(
    meter: Meter, running: list[BatchWindow], a: int, b: int
) -> tuple[dict[str, Fraction], Fraction]:
    """Each running batch's share of the interval's energy, and their sum (given away)."""
    if meter.allocation is Allocation.FIXED:
        shares = {w.batch_id: Fraction(meter.shares.get(w.line, 0.0)) for w in running}
        return shares, sum(shares.values(), Fraction(0))
    if meter.allocation is Allocation.UNITS:
        rates = {
            w.batch_id: Fraction((w.good_units or 0.0) + (w.reject_units or 0.0)) * (b - a)
            / (w.end_ms - w.start_ms) for w in running
        }
        total = sum(rates.values(), Fraction(0))
        if total > 0:
            return {k: v / total for k, v in rates.items()}, Fraction(1)
    equal = Fraction(1, len(running))
    return dict.fromkeys((w.batch_id for w in running), equal), Fraction(1)


def allocate_meter(
    meter: Meter, track: CounterTrack, batches: list[BatchWindow], period: tuple[int, int],
    extra_cuts: list[int], keep: frozenset[str] | None = None,
) -> MeterShare:
    """Allocate `meter`'s energy over `period`, cut at every batch boundary and at `extra_cuts`.

    Every running batch weighs in; pieces are made only for the batch ids in `keep` (None: all),
    since a one-batch recompute needs its own pieces, not those of every batch beside it.
    """
    share = MeterShare(meter.id)
    start, end = period
    served = [w for w in batches if _serves(meter, w.line) and w.overlaps(start, end)]
    cuts = [t for w in served for t in (w.start_ms, w.end_ms)] + extra_cuts
    intervals = _cut(start, end, cuts)
    # the counter at each cut once: every inner cut ends one interval and starts the next
    counter = {t: track.at(t) for t in {start, end, *(t for ab in intervals for t in ab)}}
    share.measured = counter[end] - counter[start]
    if keep is not None and meter.allocation is Allocation.RUNTIME:
        _runtime_pieces(share, served, intervals, counter, keep)
        return share
    for a, b in intervals:
        running = [w for w in served if w.running_through(a, b)]
        if not running:
            continue
        energy = counter[b] - counter[a]
        weights, given = _weights(meter, running, a, b)
        share.given += energy * given
        for w in running if keep is None else [w for w in running if w.batch_id in keep]:
            weight = weights[w.batch_id]
            if weight:
                share.by_batch.setdefault(w.batch_id, []).append(Piece(a, b, energy * weight))
    share.idle = share.measured - share.given
    return share


def _runtime_pieces(share: MeterShare, served: list[BatchWindow], intervals: list[tuple[int, int]],
                    counter: dict[int, Fraction], keep: frozenset[str]) -> None:
    """Equal shares when only `keep`'s pieces are wanted: the general loop's result, exactly.

    A shared meter serves every line, so each interval has a dozen batches running while a
    one-batch recompute wants the pieces of one. Every served window starts and ends on a
    cut (or outside the period), so the batches running through an interval are those that
    started at or before its start and had not ended by then: two bisections count them.
    Every interval with a batch running gives all its energy away (weights sum to 1), so what
    is given is what was measured minus the idle intervals' energy, with no sum per interval.
    """
    starts = sorted(w.start_ms for w in served)
    ends = sorted(w.end_ms for w in served)
    kept = [w for w in served if w.batch_id in keep]
    idle = Fraction(0)
    for a, b in intervals:
        running = bisect_right(starts, a) - bisect_right(ends, a)
        if not running:
            idle += counter[b] - counter[a]
            continue
        mine = [w for w in kept if w.running_through(a, b)]
        if mine:
            piece = (counter[b] - counter[a]) / running
            for w in mine:
                share.by_batch.setdefault(w.batch_id, []).append(Piece(a, b, piece))
    share.idle = idle
    share.given = share.measured - idle


def _serves(meter: Meter, line: str) -> bool:
    if not meter.shared:
        return meter.line == line
    return not meter.serves or line in meter.serves
