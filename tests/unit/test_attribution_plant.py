"""The plant model file, scrap routes and diversion, and aggregates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.attribution.aggregates import aggregate
from cloud.attribution.batches import BatchWindow
from cloud.attribution.model import BatchResult
from cloud.attribution.scrap import Weighing, attribute_scrap
from config.loader import ConfigError, load_text
from config.plant import PlantModel, Scrap, load_plant, read_grid_factors

EXAMPLE = Path(__file__).parents[2] / "config" / "examples" / "plant-model.yaml"


def test_example_plant_model_loads_with_grid_factor_resolved() -> None:
    plant = load_plant(EXAMPLE)
    assert plant.factor_sets[0].default.steps_ms() == [(0, 146.0)]  # Ember 2024, Spain
    assert {m.id for m in plant.meters if m.shared} == {"m-dryroom"}


def test_grid_factors_file_has_the_ember_2024_figures() -> None:
    assert read_grid_factors() == {"EU": 213, "ES": 146, "PL": 615, "FR": 44, "DE": 342, "HU": 183,
                                   "SE": 36, "CN": 558, "KR": 416, "US": 384}


@pytest.mark.parametrize(("text", "message"), [
    ("lines: [{id: l1}]\nmeters: [{id: m1, line: l9}]\n", "unknown line 'l9'"),
    ("lines: [{id: l1}]\nmeters: [{id: m1, line: l1, shared: true}]\n", "a line or shared"),
    ("lines: [{id: l1}]\nmeters: [{id: m1, shared: true, allocation: fixed}]\n", "needs shares"),
    ("lines: [{id: l1}]\nmeters: [{id: m1, line: l1, rollover: 5}]\n", "key meters.0.rollover: unknown key"),
])
def test_bad_plant_model_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(PlantModel, text, "plant.yaml")


def test_unknown_grid_code_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "plant.yaml"
    path.write_text("lines: [{id: l1}]\nmeters: [{id: m1, line: l1}]\n"
                    "factor_sets: [{name: x, version: '1', basis: location, default: {grid: XX}}]\n")
    with pytest.raises(ConfigError, match=r"factor_sets.0.default.grid: unknown grid code 'XX'"):
        load_plant(path)


def test_scrap_owner_and_diversion_rates() -> None:
    batches = [BatchWindow("A", "l1", "p", 0, 100_000), BatchWindow("B", "l1", "p", 200_000, 300_000)]
    weighings = [
        Weighing(50_000, "ws", 1, 6.0, "edge_trim", "recycling", batch_id="A"),      # by ticket's batch id
        Weighing(150_000, "ws", 2, 2.0, "separator", "energy_recovery", line="l1"),  # after A, in grace
        Weighing(250_000, "ws", 3, 2.0, "cells", "hazardous", line="l1"),            # during B
        Weighing(250_000, "ws", 3, 2.0, "cells", "hazardous", line="l1"),            # replay: counted once
        Weighing(9_000_000, "ws", 4, 1.0, "cells", "landfill", line="l1"),           # long after: nobody's
    ]
    scrap = Scrap(destinations={"hazardous": "hazardous_treatment"}, grace_s=3600)
    per_batch, orphans = attribute_scrap(weighings, batches, scrap)
    a = per_batch["A"]
    assert (a.total, a.rates(), a.energy_recovery) == (8.0, (1.0, 0.75), 2.0)  # UL counts WtE, TRUE not
    assert per_batch["B"].rates() == (0.0, 0.0)
    assert orphans.total == 1.0


def result(batch_id: str, line: str, start_ms: int, kwh: float, scrap: float, rate: float) -> BatchResult:
    return BatchResult(batch_id=batch_id, line=line, product="p", start_ms=start_ms, end_ms=start_ms + 1,
                       energy_kwh=kwh, energy_by_meter_kwh={}, shared_energy_kwh=1.0, co2e_kg_location=2.0,
                       co2e_kg_market=1.0, good_units=10, scrap_kg={"x": scrap}, scrap_total_kg=scrap,
                       diversion_rate=rate, completeness=0.9, algorithm_version="t", computed_at_ms=0)


def test_aggregates_by_line_day_and_month() -> None:
    day = 86_400_000
    results = [result("A", "l1", 0, 10, 4, 1.0), result("B", "l2", day, 20, 1, 0.0),
               result("C", "l1", 2 * day, 30, 5, 0.2)]
    by_line = {a.key: a for a in aggregate(results, "line")}
    assert (by_line["l1"].energy_kwh, by_line["l1"].batches, by_line["l1"].scrap_kg) == (40, 2, {"x": 9.0})
    assert by_line["l1"].diversion_rate == pytest.approx((4 + 1) / 9)  # mass-weighted, not averaged
    assert by_line["l1"].kwh_per_good_unit == pytest.approx(42 / 20)
    assert [a.key for a in aggregate(results, "day")] == ["1970-01-01", "1970-01-02", "1970-01-03"]
    assert [a.batches for a in aggregate(results, "month")] == [3]
    assert aggregate(list(reversed(results)), "product") == aggregate(results, "product")
