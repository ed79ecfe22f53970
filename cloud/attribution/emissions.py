"""CO2e of allocated energy under named, versioned factor sets (GHG Protocol Scope 2, dual)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction

from cloud.attribution.allocation import Piece
from config.plant import FactorSet, Meter


@dataclass(frozen=True)
class FactorCurve:
    """gCO2e/kWh as steps: each (from_ms, g) holds until the next; before the first, the first."""

    steps: tuple[tuple[int, float], ...]

    def at(self, ts_ms: int) -> Fraction:
        i = max(bisect_right([t for t, _ in self.steps], ts_ms) - 1, 0)
        return Fraction(self.steps[i][1])

    def change_points(self) -> list[int]:
        return [t for t, _ in self.steps[1:]]


def curve_for(factor_set: FactorSet, meter: Meter) -> FactorCurve:
    """Location sets use the grid mix for every meter; market sets the meter's supply route."""
    factor = factor_set.default
    if factor_set.basis == "market":
        factor = factor_set.routes.get(meter.supply, factor_set.default)
    return FactorCurve(tuple(factor.steps_ms()))


def co2e_kg(pieces: list[Piece], curve: FactorCurve) -> Fraction:
    """Pieces are cut at every change point, so each piece has one factor (taken at its start)."""
    return sum((p.kwh * curve.at(p.start_ms) for p in pieces), Fraction(0)) / 1000


def change_points(factor_sets: list[FactorSet], meter: Meter) -> list[int]:
    return sorted({t for fs in factor_sets for t in curve_for(fs, meter).change_points()})
