"""Sample batch results and power curves for API, dashboard and passport tests."""

from __future__ import annotations

from cloud.attribution.model import BatchResult, Gap, MeterCompleteness

DAY_MS = 86_400_000
T0 = 1_793_491_200_000  # 2026-11-01T00:00:00Z


def batch(
    batch_id: str, line: str, product: str, start_ms: int, scale: float = 1.0, **changes: object
) -> BatchResult:
    """A consistent result: 2 own meters (energy times `scale`), one shared meter, scrap to three
    destinations, 950 good units holding 5.7 kWh of cells."""
    own = {f"{line}-m1": 120.5 * scale, f"{line}-m2": 30.25 * scale}
    total = sum(own.values()) + 40.0
    fields: dict[str, object] = dict(
        batch_id=batch_id, line=line, product=product, start_ms=start_ms, end_ms=start_ms + 3_600_000,
        energy_kwh=sum(own.values()), energy_by_meter_kwh=own, shared_energy_kwh=40.0,
        shared_by_meter_kwh={"dryroom": 40.0}, co2e_kg_location=total * 0.342, co2e_kg_market=total * 0.05,
        co2e_kg_by_factor_set={"de-grid-2024": total * 0.342, "ppa-2024": total * 0.05},
        factor_sets={"de-grid-2024": "ember-2024.1", "ppa-2024": "contract-7"},
        good_units=950.0, reject_units=50.0, kwh_per_good_unit=total / 950.0, kwh_per_cell_kwh=total / 5.7,
        scrap_kg={"coated electrode scrap": 8.0, "slitting edge trim": 2.0},
        scrap_by_destination_kg={"recycling": 9.0, "energy_recovery": 0.5, "landfill": 0.5},
        scrap_total_kg=10.0, diversion_rate=0.95, diversion_rate_true=0.90, energy_recovery_kg=0.5,
        completeness=0.98,
        completeness_by_meter={f"{line}-m1": MeterCompleteness(
            meter=f"{line}-m1", expected=360, present=352, share=352 / 360,
            gaps=[Gap(meter=f"{line}-m1", from_ms=start_ms + 600_000, to_ms=start_ms + 680_000)],
        )},
        algorithm_version="attribution-1.0", computed_at_ms=start_ms + 4_000_000,
    )
    fields.update(changes)
    return BatchResult.model_validate(fields)


def sample_results() -> list[BatchResult]:
    return [
        batch("B-001", "L1", "CELL-A", T0 + 8 * 3_600_000),
        batch("B-002", "L2", "CELL-A", T0 + DAY_MS + 9 * 3_600_000, scale=0.66,
              alarms=["unexplained counter jump on L2-m1"], completeness=0.81),
        batch("B-003", "L1", "CELL-B", T0 + 2 * DAY_MS + 7 * 3_600_000, scale=1.3),
        batch("B-004", "L1", "CELL-A", T0 + 31 * DAY_MS, scale=0.9,
              scrap_by_destination_kg={"recycling": 10.0}, diversion_rate=1.0, diversion_rate_true=1.0,
              energy_recovery_kg=0.0),
    ]


def sample_curve(result: BatchResult, step_ms: int = 60_000) -> dict[str, list[tuple[int, float]]]:
    """A ramp-up then plateau per own meter, so the chart has shape."""
    curve: dict[str, list[tuple[int, float]]] = {}
    for index, meter in enumerate(sorted(result.energy_by_meter_kwh)):
        level = 120_000.0 / (index + 1)
        curve[meter] = [
            (ts, level * min(1.0, (ts - result.start_ms) / 900_000) + 500.0 * ((ts // step_ms) % 3))
            for ts in range(result.start_ms, result.end_ms + 1, step_ms)
        ]
    return curve
