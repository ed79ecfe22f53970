"""The real path: readings and events stored as the collector stores them, attributed by
cloud/results.py, served by `batchmeter-cloud serve`; the API shows exactly what attribution
computed, and a meter without a power register still gets a power curve from its counter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloud.attribution.model import BatchResult
from cloud.influx import InfluxHttp
from cloud.points import event_lines, reading_lines
from cloud.results import Window, recompute
from config.plant import PlantModel
from config.wire import BatchEnded, BatchStarted, EventsMessage, Reading, ReadingsMessage, ScrapWeighed
from tests.browser.serving import served
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

T0 = 1_790_000_000_000
S = 10_000
PLANT = PlantModel.model_validate({
    "lines": [{"id": "line1"}],
    "meters": [{"id": "m1", "line": "line1"}, {"id": "m2", "line": "line1"}, {"id": "dry", "shared": True}],
    "factor_sets": [{"name": "grid", "version": "v1", "basis": "location", "default": {"g_per_kwh": 342}}],
})


def _messages() -> list[str]:
    lines: list[str] = []
    for i in range(-2, 15):
        readings = [
            # m1 has a power register; m2 only its counter (the API derives its power)
            Reading(device="m1", ts_ms=T0 + i * S,
                    values={"energy_import_kwh": 100.0 + i, "power_w": 360_000.0}),
            Reading(device="m2", ts_ms=T0 + i * S, values={"energy_import_kwh": 50.0 + 0.5 * i}),
            Reading(device="dry", ts_ms=T0 + i * S, values={"energy_import_kwh": 900.0 + 0.25 * i}),
        ]
        lines += reading_lines(ReadingsMessage(site="s", gateway="gw", seq=100 + i, readings=readings))
    events = [
        BatchStarted(ts_ms=T0, device="lc1", line="line1", batch_id="R-1", product="CELL-R"),
        BatchEnded(ts_ms=T0 + 12 * S, device="lc1", line="line1", batch_id="R-1", product="CELL-R",
                   good_units=240, reject_units=10),
        ScrapWeighed(ts_ms=T0 + 5 * S, device="ws1", weighing_seq=1, mass_kg=9, category="edge_trim",
                     destination="recycling", batch_id="R-1"),
        ScrapWeighed(ts_ms=T0 + 6 * S, device="ws1", weighing_seq=2, mass_kg=1, category="rejected_cells",
                     destination="landfill", batch_id="R-1"),
    ]
    return lines + event_lines(EventsMessage(site="s", gateway="gw", seq=1, events=events))


def _attribute(influxdb: InfluxDB) -> list[BatchResult]:
    async def run() -> list[BatchResult]:
        influx = InfluxHttp(influxdb.url, influxdb.database)
        try:
            await influx.write_lines(_messages(), precision="ns")
            outcome = await recompute(influx, PLANT, Window(T0 - S, T0 + 20 * S), now_ms=T0 + 3_600_000)
        finally:
            await influx.close()
        return outcome.current()

    return asyncio.run(run())


def test_served_numbers_are_attributions_results(influxdb: InfluxDB, tmp_path: Path) -> None:
    results = _attribute(influxdb)
    assert [r.batch_id for r in results] == ["R-1"]
    with served(influxdb, tmp_path, results) as server:
        [listed] = server.get("/api/batches").json()
        full = server.get("/api/batches/R-1").json()
        assert full == results[0].model_dump(mode="json")
        assert listed["energy_kwh"] == results[0].energy_kwh == pytest.approx(12 + 6)
        assert listed["diversion_rate"] == pytest.approx(0.9)
        [aggregate] = server.get("/api/aggregates?by=product").json()
        assert aggregate["co2e_kg_location"] == results[0].co2e_kg_location
        power = server.get("/api/batches/R-1/power").json()
        by_meter: dict[str, list[float]] = {}
        for row in power:
            by_meter.setdefault(row["meter"], []).append(row["power_w"])
        assert set(by_meter) == {"m1", "m2"}
        assert set(by_meter["m1"]) == {360_000.0}
        # 0.5 kWh per 10 s is 180 kW
        assert by_meter["m2"]
        assert all(w == pytest.approx(180_000.0) for w in by_meter["m2"])
        page = server.get("/batches/R-1")
        assert page.status_code == 200
        assert 'data-series="m2"' in page.text
