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

    def attributed(self) -> Fraction:
        return sum((p.kwh for ps in self.by_batch.values() for p in ps), Fraction(0))


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
    extra_cuts: list[int],
) -> MeterShare:
    """Allocate `meter`'s energy over `period`, cut at every batch boundary and at `extra_cuts`."""
    share = MeterShare(meter.id)
    start, end = period
    share.measured = track.energy(start, end)
    served = [w for w in batches if _serves(meter, w.line)]
    cuts = [t for w in served for t in (w.start_ms, w.end_ms)] + extra_cuts
    for a, b in _cut(start, end, cuts):
        energy = track.energy(a, b)
        running = [w for w in served if w.running_through(a, b)]
        weights = _weights(meter, running, a, b) if running else {}
        for batch_id, weight in weights.items():
            if weight:
                share.by_batch.setdefault(batch_id, []).append(Piece(a, b, energy * weight))
    share.idle = share.measured - share.attributed()
    return share


def _serves(meter: Meter, line: str) -> bool:
    if not meter.shared:
        return meter.line == line
    return not meter.serves or line in meter.serves
