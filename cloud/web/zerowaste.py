"""A period's diversion rate and the zero-waste-to-landfill claim it supports (pure).

UL 2799 (DOMAIN.md §3): diversion = weight diverted ÷ weight generated, waste-to-energy
counting as diverted, but at least 90 % must be diverted by other routes (so at most 10 %
via energy recovery); tiers Silver 90–94 %, Gold 95–99 %, Platinum 100 %. TRUE (GBCI):
≥ 90 % with waste-to-energy not counted, over 12 months of monthly weights.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from cloud.attribution.model import BatchResult

_EPS = 1e-9


@dataclass(frozen=True)
class ZeroWaste:
    period: str
    total_kg: float
    diverted_kg: float
    """UL 2799 style: includes energy recovery."""
    energy_recovery_kg: float
    by_destination_kg: dict[str, float]
    rate: float | None
    rate_true: float | None
    tier: str | None
    true_threshold_met: bool

    @property
    def energy_recovery_share(self) -> float | None:
        return self.energy_recovery_kg / self.total_kg if self.total_kg > 0 else None


def ul2799_tier(rate: float, energy_recovery_share: float) -> str | None:
    """The UL 2799 tier a diversion rate supports, or None.

    Percentages are floored, never rounded up, so 94.99 % stays Silver: a claim must not
    overstate the measurement.
    """
    if rate - energy_recovery_share < 0.90 - _EPS:
        return None
    percent = math.floor(rate * 100 + _EPS)
    if percent >= 100:
        return "Platinum"
    if percent >= 95:
        return "Gold"
    return "Silver" if percent >= 90 else None


def zero_waste(period: str, results: Sequence[BatchResult]) -> ZeroWaste:
    """Sum the batches' weighings over a period and state the claim they support."""
    total = sum(r.scrap_total_kg for r in results)
    diverted = sum((r.diversion_rate or 0.0) * r.scrap_total_kg for r in results)
    diverted_true = sum((r.diversion_rate_true or 0.0) * r.scrap_total_kg for r in results)
    recovery = sum(r.energy_recovery_kg for r in results)
    by_destination: dict[str, float] = defaultdict(float)
    for r in results:
        for destination, kg in r.scrap_by_destination_kg.items():
            by_destination[destination] += kg
    rate = diverted / total if total > 0 else None
    rate_true = diverted_true / total if total > 0 else None
    tier = ul2799_tier(rate, recovery / total) if rate is not None else None
    return ZeroWaste(
        period=period, total_kg=total, diverted_kg=diverted, energy_recovery_kg=recovery,
        by_destination_kg=dict(sorted(by_destination.items())), rate=rate, rate_true=rate_true,
        tier=tier, true_threshold_met=rate_true is not None and rate_true >= 0.90 - _EPS,
    )
