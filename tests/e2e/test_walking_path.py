"""The demo plant end to end on real services: simulator -> agent -> Mosquitto -> collector ->
InfluxDB -> report, checked batch by batch against the simulator's ground-truth ledger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import TOLERANCE, BatchComparison, Options, compare, format_table, plant_run

pytestmark = pytest.mark.e2e

DEMO_PLANT = Path(__file__).resolve().parents[2] / "config" / "examples" / "demo-plant.yaml"


@dataclass(frozen=True)
class Outcome:
    report: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    rows: list[BatchComparison]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    options = Options(plant_file=DEMO_PLANT, workdir=tmp_path_factory.mktemp("walking-path"))
    with plant_run(options) as run:
        run.wait_done()
        report, ledger = run.report(), run.ledger()
    rows = compare(report, ledger)
    print(format_table(rows))  # shown by pytest when a test below fails
    return Outcome(report, ledger, rows)


def test_the_ledger_has_the_whole_schedule(outcome: Outcome) -> None:
    assert len(outcome.ledger) >= 3
    assert all(entry["energy_kwh"] > 0 for entry in outcome.ledger)


def test_every_ledger_batch_is_in_the_report(outcome: Outcome) -> None:
    reported = {str(batch["batch_id"]) for batch in outcome.report}
    assert {str(entry["batch_id"]) for entry in outcome.ledger} <= reported


def test_attributed_energy_is_within_half_a_percent_of_the_ledger(outcome: Outcome) -> None:
    off = [(r.batch_id, r.attributed_kwh, r.truth_kwh) for r in outcome.rows if not r.within_tolerance]
    assert not off, f"batches off by more than {TOLERANCE:.1%}: {off}"


def test_every_batch_carries_its_completeness(outcome: Outcome) -> None:
    for row in outcome.rows:
        assert row.completeness is not None, row.batch_id
        assert 0.0 <= row.completeness <= 1.0
