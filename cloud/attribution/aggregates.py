"""Sums of batch results per product, line, UTC day or UTC month (pure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cloud.attribution.model import Aggregate, AggregateKey, BatchResult


def _day(r: BatchResult) -> str:
    return datetime.fromtimestamp(r.start_ms / 1000, UTC).strftime("%Y-%m-%d")


def _month(r: BatchResult) -> str:
    return datetime.fromtimestamp(r.start_ms / 1000, UTC).strftime("%Y-%m")


KEYS: dict[AggregateKey, Callable[[BatchResult], str]] = {
    "product": lambda r: r.product, "line": lambda r: r.line, "day": _day, "month": _month,
}
"""A batch counts in the day and month it started in."""


def _rate(results: list[BatchResult], field: str) -> float | None:
    total = sum(r.scrap_total_kg for r in results)
    diverted = sum(r.scrap_total_kg * (getattr(r, field) or 0.0) for r in results)
    return diverted / total if total > 0 else None


def _group(by: AggregateKey, key: str, results: list[BatchResult]) -> Aggregate:
    good = sum(r.good_units or 0.0 for r in results)
    energy = sum(r.energy_kwh + r.shared_energy_kwh for r in results)
    scrap: dict[str, float] = {}
    for r in results:
        for category, kg in r.scrap_kg.items():
            scrap[category] = scrap.get(category, 0.0) + kg
    return Aggregate(
        by=by, key=key, batches=len(results),
        energy_kwh=sum(r.energy_kwh for r in results),
        shared_energy_kwh=sum(r.shared_energy_kwh for r in results),
        co2e_kg_location=sum(r.co2e_kg_location for r in results),
        co2e_kg_market=sum(r.co2e_kg_market for r in results),
        good_units=good, reject_units=sum(r.reject_units or 0.0 for r in results),
        kwh_per_good_unit=energy / good if good else None,
        scrap_total_kg=sum(r.scrap_total_kg for r in results), scrap_kg=dict(sorted(scrap.items())),
        diversion_rate=_rate(results, "diversion_rate"),
        diversion_rate_true=_rate(results, "diversion_rate_true"),
        completeness=min(r.completeness for r in results), alarms=sum(len(r.alarms) for r in results),
    )


def aggregate(results: list[BatchResult], by: AggregateKey) -> list[Aggregate]:
    """One Aggregate per key value, sorted by key; results in any order give the same sums."""
    groups: dict[str, list[BatchResult]] = {}
    for r in sorted(results, key=lambda r: (r.start_ms, r.line, r.batch_id)):
        groups.setdefault(KEYS[by](r), []).append(r)
    return [_group(by, key, groups[key]) for key in sorted(groups)]
