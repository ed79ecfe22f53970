"""Split each meter's energy among batches: own meters by window, shared meters by a declared key.

Energies are exact fractions; every interval's energy is either allocated or idle, so for
every meter attributed + idle = measured exactly.
"""

from __future__ import annotations

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


def _weights(meter: Meter, running: list[BatchWindow], a: int, b: int) -> dict[str, Fraction]:
    if meter.allocation is Allocation.FIXED:
        return {w.batch_id: Fraction(meter.shares.get(w.line, 0.0)) for w in running}
    if meter.allocation is Allocation.UNITS:
        rates = {
            w.batch_id: Fraction((w.good_units or 0.0) + (w.reject_units or 0.0)) * (b - a)
            / (w.end_ms - w.start_ms) for w in running
        }
        total = sum(rates.values(), Fraction(0))
        if total > 0:
            return {k: v / total for k, v in rates.items()}
    return {w.batch_id: Fraction(1, len(running)) for w in running}


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
    share.measured = track.energy(start, end)
    served = [w for w in batches if _serves(meter, w.line) and w.overlaps(start, end)]
    cuts = [t for w in served for t in (w.start_ms, w.end_ms)] + extra_cuts
    for a, b in _cut(start, end, cuts):
        running = [w for w in served if w.running_through(a, b)]
        if not running:
            continue
        energy = track.energy(a, b)
        weights = _weights(meter, running, a, b)
        share.given += energy * sum(weights.values(), Fraction(0))
        for batch_id, weight in weights.items():
            if weight and (keep is None or batch_id in keep):
                share.by_batch.setdefault(batch_id, []).append(Piece(a, b, energy * weight))
    share.idle = share.measured - share.given
    return share


def _serves(meter: Meter, line: str) -> bool:
    if not meter.shared:
        return meter.line == line
    return not meter.serves or line in meter.serves
