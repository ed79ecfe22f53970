"""Passport export: shaped like CarbonFootprintForBatteries, valid against our schema, sums right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cloud.passport import passport
from tests.browser.samples import T0, batch, sample_results

SCHEMA_PATH = Path(__file__).parents[2] / "cloud" / "web" / "static" / "passport.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def validate(document: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    checker = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    checker.validate(json.loads(json.dumps(document)))


def test_export_validates_and_main_production_is_the_only_covered_stage() -> None:
    results = [r for r in sample_results() if r.product == "CELL-A"]
    document = passport("CELL-A", T0, T0 + 40 * 86_400_000, results)
    validate(document)
    stages = {s["lifecycleStage"]: s for s in document["carbonFootprintPerLifecycleStage"]}
    assert set(stages) == {"RawMaterialExtraction", "MainProduction", "Distribution", "Recycling"}
    assert [name for name, s in stages.items() if s["covered"]] == ["MainProduction"]
    assert stages["MainProduction"]["carbonFootprint"] == document["batteryCarbonFootprint"]


def test_figures_are_sums_of_the_batches() -> None:
    results = [batch("X1", "L1", "P", T0), batch("X2", "L1", "P", T0 + 1, co2e_kg_location=10.0)]
    document = passport("P", T0, T0 + 10, results)
    absolute = results[0].co2e_kg_location + 10.0
    assert document["absoluteCarbonFootprint"] == pytest.approx(absolute)
    capacity = 2 * 5.7  # each sample batch produced 5.7 kWh of cells
    assert document["dataQuality"]["cellCapacityKwh"] == pytest.approx(capacity)
    assert document["batteryCarbonFootprint"] == pytest.approx(absolute / capacity)
    assert document["method"]["factorSets"]["de-grid-2024"]["versions"] == ["ember-2024.1"]


def test_market_basis_uses_market_based_co2e() -> None:
    result = batch("X1", "L1", "P", T0)
    document = passport("P", T0, T0 + 10, [result], basis="market")
    assert document["absoluteCarbonFootprint"] == pytest.approx(result.co2e_kg_market)
    assert document["method"]["electricityAccounting"].startswith("market-based")


def test_unknown_capacity_gives_no_per_kwh_figure_but_still_validates() -> None:
    results = [batch("X1", "L1", "P", T0, kwh_per_cell_kwh=None), batch("X2", "L1", "P", T0 + 1)]
    document = passport("P", T0, T0 + 10, results)
    # a partial capacity would understate the per-kWh figure
    assert document["batteryCarbonFootprint"] is None
    validate(document)


def test_schema_rejects_a_figure_on_an_uncovered_stage() -> None:
    document = passport("P", T0, T0 + 10, [batch("X1", "L1", "P", T0)])
    document["carbonFootprintPerLifecycleStage"][0]["carbonFootprint"] = 1.0
    with pytest.raises(jsonschema.ValidationError):
        validate(document)
