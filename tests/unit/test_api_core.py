"""Pure parts behind the API: aggregation, zero-waste tiers, query parsing, CSV rows."""

from __future__ import annotations

import csv
import io

import pytest

from cloud.attribution.aggregates import aggregate
from cloud.web.influx_source import latest_per_batch, power_from_counter
from cloud.web.query import QueryError, batch_filter, month_bounds, parse_time
from cloud.web.tables import BATCH_COLUMNS, batch_row, to_csv
from cloud.web.zerowaste import ul2799_tier, zero_waste
from tests.browser.samples import T0, batch, sample_results


@pytest.mark.parametrize(
    ("rate", "recovery", "tier"),
    [(1.0, 0.0, "Platinum"), (0.999, 0.0, "Gold"), (0.95, 0.0, "Gold"), (0.9499, 0.0, "Silver"),
     (0.90, 0.0, "Silver"), (0.8999, 0.0, None), (1.0, 0.10, "Platinum"), (1.0, 0.11, None),
     (0.96, 0.07, None)],
)
def test_ul2799_tiers_floor_and_cap_energy_recovery(rate: float, recovery: float, tier: str | None) -> None:
    assert ul2799_tier(rate, recovery) == tier


def test_zero_waste_weights_batches_by_mass() -> None:
    heavy = batch("H", "L1", "P", T0, scrap_total_kg=90.0, diversion_rate=1.0, diversion_rate_true=1.0,
                  energy_recovery_kg=0.0)
    light = batch("L", "L1", "P", T0, scrap_total_kg=10.0, diversion_rate=0.5, diversion_rate_true=0.4,
                  energy_recovery_kg=1.0)
    status = zero_waste("2026-11", [heavy, light])
    assert status.rate == pytest.approx(0.95)
    assert status.rate_true == pytest.approx(0.94)
    assert status.tier == "Gold"
    assert status.true_threshold_met


def test_aggregates_sum_batches_per_key() -> None:
    results = sample_results()
    by_product = {a.key: a for a in aggregate(results, "product")}
    cell_a = [r for r in results if r.product == "CELL-A"]
    assert by_product["CELL-A"].batches == 3
    assert by_product["CELL-A"].energy_kwh == pytest.approx(sum(r.energy_kwh for r in cell_a))
    assert by_product["CELL-A"].alarms == 1
    assert by_product["CELL-A"].completeness == pytest.approx(0.81)
    assert [a.key for a in aggregate(results, "month")] == ["2026-11", "2026-12"]
    assert aggregate(results, "day")[0].key == "2026-11-01"


def test_batch_filter_parses_and_applies() -> None:
    query = batch_filter({"line": "L1", "from": "2026-11-01", "to": "2026-11-03", "alarms": "false"})
    assert [r.batch_id for r in sample_results() if query.matches(r)] == ["B-001"]
    assert parse_time("t", "2026-11-01T00:00:00Z") == T0 == parse_time("t", str(T0))
    assert month_bounds("2026-12") == (T0 + 30 * 86_400_000, T0 + 61 * 86_400_000)


@pytest.mark.parametrize(
    ("params", "named"),
    [({"from": "yesterday"}, "from"), ({"alarms": "maybe"}, "alarms"),
     ({"from": "2026-11-02", "to": "2026-11-01"}, "to")],
)
def test_bad_query_names_the_parameter(params: dict[str, str], named: str) -> None:
    with pytest.raises(QueryError, match=f"^{named}:"):
        batch_filter(params)


def test_csv_has_every_column_and_defuses_formulas() -> None:
    row = batch_row(batch("B", "L1", "=cmd()", T0, alarms=["a", "b"]))
    parsed = list(csv.DictReader(io.StringIO(to_csv([row], BATCH_COLUMNS))))
    assert list(parsed[0]) == list(BATCH_COLUMNS)
    assert parsed[0]["product"] == "'=cmd()"
    assert parsed[0]["alarms"] == "a; b"
    assert float(parsed[0]["energy_kwh"]) == row["energy_kwh"]


def test_dashboard_dates_include_the_to_day() -> None:
    api = batch_filter({"from": "2026-11-01", "to": "2026-11-02"})
    page = batch_filter({"from": "2026-11-01", "to": "2026-11-01"}, to_day_inclusive=True)
    assert api.to_ms == page.to_ms == T0 + 86_400_000
    assert batch_filter({"to": str(T0)}, to_day_inclusive=True).to_ms == T0, "only bare dates widen"


def test_power_from_counter_skips_drops_instead_of_counting_them() -> None:
    samples = [(0, 10.0), (10_000, 10.5), (20_000, 0.2), (30_000, 0.7), (30_000, 0.8)]
    points = power_from_counter(samples)
    assert [ts for ts, _ in points] == [10_000, 30_000]
    assert [w for _, w in points] == pytest.approx([180_000.0, 180_000.0])


def test_latest_revision_wins_when_a_recomputation_moved_the_start() -> None:
    old = batch("B", "L1", "P", T0, revision=1)
    moved = batch("B", "L1", "P", T0 + 5_000, revision=2, energy_kwh=1.0)
    assert latest_per_batch([moved, old]) == [moved]
