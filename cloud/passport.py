"""Battery passport export: measured batches of one battery model shaped as the Battery Pass
data model's `CarbonFootprintForBatteries` aspect (v1.2.0 field names, DOMAIN.md §2). Pure.

batchmeter measures only the main-production stage (Battery Pass CF rules v1.1 §1.1: the stage
that must use company-specific data), and only its electricity; the other stages are listed as
not covered rather than left out, so a reader cannot mistake the figure for a full footprint.
The functional unit here is kWh of produced cell capacity: the Art. 7 unit (kWh delivered over
the service life) needs the battery's cycle life, which a plant meter cannot know.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cloud.attribution.model import BatchResult
from cloud.web.tables import iso

STAGES = ("RawMaterialExtraction", "MainProduction", "Distribution", "Recycling")
SCHEMA_ID = "https://batchmeter.invalid/schemas/passport-carbon-footprint-1.json"
Basis = Literal["location", "market"]


def _cell_kwh(result: BatchResult) -> float | None:
    """Cell capacity produced, recovered from the batch's (own + shared) kWh per cell kWh."""
    if not result.kwh_per_cell_kwh:
        return None
    return (result.energy_kwh + result.shared_energy_kwh) / result.kwh_per_cell_kwh


def _co2e(result: BatchResult, basis: Basis) -> float:
    return result.co2e_kg_location if basis == "location" else result.co2e_kg_market


def _per_kwh(co2e: float, capacity: float | None) -> float | None:
    return co2e / capacity if capacity else None


def _stage(name: str, value: float | None) -> dict[str, Any]:
    covered = name == "MainProduction"
    return {
        "lifecycleStage": name,
        "carbonFootprint": value if covered else None,
        "covered": covered,
        "source": "measured (batchmeter)" if covered else "not covered by batchmeter",
    }


def _factor_sets(results: Sequence[BatchResult]) -> dict[str, dict[str, Any]]:
    totals: dict[str, float] = {}
    versions: dict[str, set[str]] = {}
    for r in results:
        for name, kg in r.co2e_kg_by_factor_set.items():
            totals[name] = totals.get(name, 0.0) + kg
        for name, version in r.factor_sets.items():
            versions.setdefault(name, set()).add(version)
    return {
        name: {"versions": sorted(versions.get(name, ())), "absoluteCarbonFootprint": totals.get(name)}
        for name in sorted(totals.keys() | versions.keys())
    }


def passport(
    product: str, from_ms: int, to_ms: int, results: Sequence[BatchResult], basis: Basis = "location",
) -> dict[str, Any]:
    """The aspect for `product` over `[from_ms, to_ms)`, from the batches given (already filtered)."""
    capacities = [_cell_kwh(r) for r in results]
    capacity = sum(c for c in capacities if c is not None)
    all_sized = bool(results) and all(c is not None for c in capacities)
    absolute = sum(_co2e(r, basis) for r in results)
    per_kwh = _per_kwh(absolute, capacity) if all_sized else None
    return {
        "$schema": SCHEMA_ID,
        "aspect": "CarbonFootprintForBatteries",
        "dataModel": "Battery Pass data model v1.2.0 (field names)",
        "batteryModel": product,
        "period": {"from": iso(from_ms), "to": iso(to_ms)},
        "batteryCarbonFootprint": per_kwh,
        "carbonFootprintPerLifecycleStage": [_stage(s, per_kwh) for s in STAGES],
        "absoluteCarbonFootprint": absolute,
        "carbonFootprintPerformanceClass": None,
        "carbonFootprintStudy": None,
        "method": _method(results, basis),
        "dataQuality": _quality(results, capacity if all_sized else None),
    }


def _method(results: Sequence[BatchResult], basis: Basis) -> dict[str, Any]:
    return {
        "scope": "MainProduction stage, electricity only, measured per batch",
        "functionalUnit": "kg CO2e per kWh of produced cell capacity",
        "electricityAccounting": f"{basis}-based (GHG Protocol Scope 2)",
        "sharedLoadAllocation": "shared meters allocated to concurrent batches by the plant's declared key",
        "factorSets": _factor_sets(results),
        "algorithmVersions": sorted({r.algorithm_version for r in results}),
    }


def _quality(results: Sequence[BatchResult], capacity: float | None) -> dict[str, Any]:
    return {
        "batches": len(results),
        "batchIds": [r.batch_id for r in results],
        "completeness": min((r.completeness for r in results), default=0.0),
        "batchesWithAlarms": sum(1 for r in results if r.alarms),
        "goodUnits": sum(r.good_units or 0.0 for r in results),
        "cellCapacityKwh": capacity,
        "energyKwh": sum(r.energy_kwh + r.shared_energy_kwh for r in results),
    }
