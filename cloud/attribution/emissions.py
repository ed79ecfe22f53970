"""CO2e of allocated energy under named, versioned factor sets (GHG Protocol Scope 2, dual)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from cloud.attribution.allocation import Piece
from config.plant import FactorSet, Meter


@dataclass(frozen=True)
class FactorCurve:
    """gCO2e/kWh as steps: each (from_ms, g) holds until the next; before the first, the first."""

    steps: tuple[tuple[int, float], ...]
    _times: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _factors: tuple[Fraction, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", tuple(t for t, _ in self.steps))
        object.__setattr__(self, "_factors", tuple(Fraction(g) for _, g in self.steps))

    def at(self, ts_ms: int) -> Fraction:
        return self._factors[max(bisect_right(self._times, ts_ms) - 1, 0)]

    def change_points(self) -> list[int]:
        return list(self._times[1:])


def curve_for(factor_set: FactorSet, meter: Meter) -> FactorCurve:
    """Location sets use the grid mix for every meter; market sets the meter's supply route."""
    factor = factor_set.default
    if factor_set.basis == "market":
        factor = factor_set.routes.get(meter.supply, factor_set.default)
    return FactorCurve(tuple(factor.steps_ms()))


def segments(pieces: list[Piece], change_points: list[int]) -> list[tuple[int, Fraction]]:
    """(start of the first piece, kWh) per stretch between change points that has pieces.

    Pieces are cut at every change point and come in time order, so every piece of a stretch
    has the same factor in every curve whose change points are among `change_points`: the
    stretch's energy can be summed first and multiplied once, exactly as piece by piece.
    """
    by_stretch: dict[int, tuple[int, Fraction]] = {}
    for p in pieces:
        k = bisect_right(change_points, p.start_ms)
        first, kwh = by_stretch.get(k, (p.start_ms, Fraction(0)))
        by_stretch[k] = (first, kwh + p.kwh)
    return [by_stretch[k] for k in sorted(by_stretch)]


def co2e_of_segments(stretches: list[tuple[int, Fraction]], curve: FactorCurve) -> Fraction:
    return sum((kwh * curve.at(start) for start, kwh in stretches), Fraction(0)) / 1000


def curves_for(factor_sets: list[FactorSet], meter: Meter) -> dict[str, FactorCurve]:
    """The meter's curve under each factor set, by the set's name."""
    return {fs.name: curve_for(fs, meter) for fs in factor_sets}


def change_points(curves: Iterable[FactorCurve]) -> list[int]:
    return sorted({t for curve in curves for t in curve.change_points()})
