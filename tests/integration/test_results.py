"""Attribution against a real InfluxDB: numbers from stored readings, and recomputation on late data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from cloud.__main__ import main
from cloud.influx import InfluxHttp
from cloud.points import event_lines, reading_lines
from cloud.reports import CONTRACT_FIELDS
from cloud.results import Window, load_results, load_samples, load_summaries, recompute
from config.plant import PlantModel
from config.wire import BatchEnded, BatchStarted, EventsMessage, Reading, ReadingsMessage, ScrapWeighed
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000
S = 10_000
LATE = range(4, 11)
"""m2's readings 40-100 s after T0 sit in an outbox for an hour and land after the first run."""

PLANT = PlantModel.model_validate({
    "lines": [{"id": "line1"}, {"id": "line2"}],
    "meters": [{"id": "m1", "line": "line1"}, {"id": "m2", "line": "line2"},
               {"id": "dry", "shared": True}],
    "factor_sets": [{"name": "loc", "version": "v1", "basis": "location", "default": {"g_per_kwh": 100}}],
})


def m2(i: int) -> float:
    return 1000.0 + 2 * i if i <= 6 else 1012.0 + 6 * (i - 6)  # draws 3x more from 60 s on


def readings(seq: int, indices: list[int], with_m2: bool) -> list[str]:
    out = []
    for i in indices:
        values = {"m1": 500.0 + i, "dry": 7000.0 + 3 * i, **({"m2": m2(i)} if with_m2 else {})}
        out.append(ReadingsMessage(site="s", gateway="gw", seq=seq * 100 + i + 10, readings=[
            Reading(device=d, ts_ms=T0 + i * S, values={"energy_import_kwh": v}) for d, v in values.items()
        ]))
    return [line for msg in out for line in reading_lines(msg)]


def events() -> list[str]:
    batch_events = [
        BatchStarted(ts_ms=T0, device="lc1", line="line1", batch_id="A", product="cell"),
        BatchEnded(ts_ms=T0 + 6 * S, device="lc1", line="line1", batch_id="A", product="cell",
                   good_units=100, reject_units=5),
        BatchStarted(ts_ms=T0 + 3 * S, device="lc2", line="line2", batch_id="B", product="cell"),
        BatchEnded(ts_ms=T0 + 9 * S, device="lc2", line="line2", batch_id="B", product="cell", good_units=50),
        ScrapWeighed(ts_ms=T0 + 2 * S, device="ws1", weighing_seq=1, mass_kg=8, category="edge_trim",
                     destination="recycling", batch_id="A"),
        ScrapWeighed(ts_ms=T0 + 7 * S, device="ws1", line="line1", weighing_seq=2, mass_kg=2,
                     category="rejected_cells", destination="landfill"),
    ]
    return event_lines(EventsMessage(site="s", gateway="gw", seq=1, events=batch_events))


@pytest.fixture
async def influx(influxdb: InfluxDB) -> AsyncIterator[InfluxHttp]:
    client = InfluxHttp(influxdb.url, influxdb.database)
    yield client
    await client.close()


async def test_results_from_stored_readings_and_late_data_recomputed(influx: InfluxHttp) -> None:
    on_time = [i for i in range(-2, 13) if i not in LATE]
    await influx.write_lines(readings(1, list(range(-2, 13)), with_m2=False) + events(), precision="ns")
    await influx.write_lines(readings(2, on_time, with_m2=True), precision="ns")
    window = Window(T0 - S, T0 + 20 * S)

    first = await recompute(influx, PLANT, window, now_ms=T0 + 3_600_000)
    a, b = first.current()
    assert [r.revision for r in first.written] == [1, 1]
    assert (a.batch_id, a.energy_kwh, a.shared_energy_kwh) == ("A", 6.0, 9 + 4.5)
    assert a.co2e_kg_location == pytest.approx((6 + 13.5) * 0.1)
    assert (a.scrap_kg, a.diversion_rate) == ({"edge_trim": 8.0, "rejected_cells": 2.0}, 0.8)
    assert b.energy_kwh == pytest.approx(1033 - 1006)  # interpolated across the missing hour
    assert b.completeness < 1

    await influx.write_lines(readings(3, list(LATE), with_m2=True), precision="ns")  # an hour late
    second = await recompute(influx, PLANT, window, now_ms=T0 + 7_200_000)
    assert [(r.batch_id, r.revision, r.computed_at_ms) for r in second.written] == [("B", 2, T0 + 7_200_000)]
    stored = {r.batch_id: r for r in await load_results(influx, window)}
    assert stored["B"].energy_kwh == m2(9) - m2(3)
    assert stored["B"].completeness == 1.0
    assert (stored["A"].revision, stored["A"].computed_at_ms) == (1, T0 + 3_600_000)

    third = await recompute(influx, PLANT, window, now_ms=T0 + 9_000_000)
    assert third.written == []  # nothing new: nothing rewritten


async def test_batch_result_points_follow_the_schema(influx: InfluxHttp) -> None:
    await influx.write_lines(readings(1, list(range(-2, 13)), with_m2=True) + events(), precision="ns")
    await recompute(influx, PLANT, Window(T0 - S, T0 + 20 * S), now_ms=T0)
    [series] = await influx.query('SELECT * FROM "batch_result" WHERE "batch_id" = \'A\'')
    [row] = series.rows()
    assert (row["time"], row["line"], row["product"], row["revision"]) == (T0, "line1", "cell", 1.0)
    assert json.loads(row["detail"])["energy_by_meter_kwh"] == {"m1": 6.0}


async def test_one_batch_window_computes_what_the_wide_window_did(influx: InfluxHttp) -> None:
    # a one-batch recompute loads only that batch's meters and span (+ nearest readings),
    # yet finds the stored result, computed from everything, unchanged
    await influx.write_lines(readings(1, list(range(-2, 13)), with_m2=True) + events(), precision="ns")
    wide = await recompute(influx, PLANT, Window(T0 - S, T0 + 20 * S), now_ms=T0)
    for r in wide.current():
        narrow = await recompute(influx, PLANT, Window(r.start_ms, r.start_ms), now_ms=T0 + 1)
        assert narrow.written == []
        assert [u.model_dump() for u in narrow.unchanged] == [r.model_dump()]


async def test_a_batch_longer_than_the_events_margin_is_attributed_from_a_window_at_its_start(
    influx: InfluxHttp,
) -> None:
    # a 3 h calcination batch: its end and a weighing lie past the 1 h margin around a window
    # that holds only its start, yet it is paired, weighed and measured as a wide window does
    hour, minute = 3_600_000, 60_000
    plant = PlantModel.model_validate({
        "lines": [{"id": "kiln"}],
        "meters": [{"id": "k1", "line": "kiln", "poll_interval_s": 60}],
    })
    start, end = T0, T0 + 3 * hour
    await influx.write_lines([
        f"reading,device=k1,gateway=gw,site=s energy_import_kwh={1000.0 + 2 * k} {T0 + k * minute}"
        for k in range(-5, 3 * 60 + 6)
    ], precision="ms")
    later_batch = [BatchStarted(ts_ms=end + 2 * hour, device="lc", line="kiln", batch_id="K2", product="nmc"),
                   BatchEnded(ts_ms=end + 9 * hour, device="lc", line="kiln", batch_id="K2", product="nmc")]
    await influx.write_lines(event_lines(EventsMessage(site="s", gateway="gw", seq=1, events=[
        BatchStarted(ts_ms=start, device="lc", line="kiln", batch_id="K1", product="nmc"),
        ScrapWeighed(ts_ms=start + 2 * hour, device="ws", weighing_seq=1, mass_kg=40, category="fines",
                     destination="recycling", batch_id="K1"),
        BatchEnded(ts_ms=end, device="lc", line="kiln", batch_id="K1", product="nmc", good_units=10),
        *later_batch,
    ])), precision="ns")

    narrow = await recompute(influx, plant, Window(start, start), now_ms=T0)
    [k1] = narrow.current()
    assert (k1.batch_id, k1.end_ms, k1.energy_kwh, k1.scrap_total_kg) == ("K1", end, 2.0 * 180, 40.0)
    wide = await recompute(influx, plant, Window(start - hour, end + 12 * hour), now_ms=T0 + 1)
    assert [r.batch_id for r in wide.unchanged] == ["K1"]  # the narrow window stored the same result


async def test_list_reads_the_numbers_without_detail(influx: InfluxHttp) -> None:
    await influx.write_lines(readings(1, list(range(-2, 13)), with_m2=True) + events(), precision="ns")
    window = Window(T0 - S, T0 + 20 * S)
    results = (await recompute(influx, PLANT, window, now_ms=T0)).current()
    summaries = {s.batch_id: s for s in await load_summaries(influx, window)}
    assert sorted(summaries) == ["A", "B"]
    for r in results:
        s = summaries[r.batch_id]
        assert s.model_dump(exclude={"alarms"}) == r.model_dump(include=set(s.model_dump()) - {"alarms"})
        assert s.alarms == len(r.alarms)


async def test_the_nearest_readings_outside_the_span_are_found_near_and_far(influx: InfluxHttp) -> None:
    # every meter polls each second; "gappy" has 20 s holes next to both ends of the span, past
    # the span query's reach, and "ends" stops reading inside the span: each must still get
    # exactly its `edge` nearest readings on each side (up to MARGIN_MS away), as before
    second = 1000
    plant = PlantModel.model_validate({
        "lines": [{"id": "line1"}],
        "meters": [{"id": m, "line": "line1", "poll_interval_s": 1} for m in ("steady", "gappy", "ends")],
    })
    polls = {
        "steady": range(-60, 61),
        "gappy": [*range(-60, -20), *range(0, 31), *range(50, 61)],
        "ends": range(-60, 20),
    }
    await influx.write_lines([
        f"reading,device={meter},gateway=gw,site=s energy_import_kwh={100.0 + k} {T0 + k * second}"
        for meter, ks in polls.items() for k in ks
    ], precision="ms")
    span, edge = Window(T0, T0 + 30 * second), 4
    loaded = await load_samples(influx, plant.meters, span, edge)
    for meter, ks in polls.items():
        times = [T0 + k * second for k in ks]
        before = [t for t in times if t < span.from_ms][-edge:]
        after = [t for t in times if t > span.to_ms][:edge]
        inside = [t for t in times if span.from_ms <= t <= span.to_ms]
        assert sorted(s.ts_ms for s in loaded[meter]) == before + inside + after, meter
        assert all(s.value == 100.0 + (s.ts_ms - T0) // second for s in loaded[meter])


def test_report_cli_writes_the_contract_json(influxdb: InfluxDB, tmp_path: Path) -> None:
    async def seed() -> None:
        client = InfluxHttp(influxdb.url, influxdb.database)
        await client.write_lines(readings(1, list(range(-2, 13)), with_m2=True) + events(), precision="ns")
        await client.close()

    asyncio.run(seed())
    plant_file = tmp_path / "plant.yaml"
    plant_file.write_text(yaml.safe_dump(PLANT.model_dump(mode="json", by_alias=True)))
    config = tmp_path / "cloud.yaml"
    config.write_text(f"influx: {{url: '{influxdb.url}', database: {influxdb.database}}}\n"
                      "plant_file: plant.yaml\n")
    out = tmp_path / "out" / "report.json"
    assert main(["report", "--config", str(config), "--format", "json", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [b["batch_id"] for b in report] == ["A", "B"]
    assert set(CONTRACT_FIELDS) <= set(report[0])
    assert report[1]["energy_kwh"] == m2(9) - m2(3)
    csv_args = ["--line", "line2", "--format", "csv", "--out", str(out)]
    assert main(["report", "--config", str(config), *csv_args]) == 0
    assert out.read_text().count("\n") == 2  # header + batch B
