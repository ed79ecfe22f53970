"""Settled blocks against a real InfluxDB: the very numbers of the readings, late data, the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from cloud.__main__ import main
from cloud.attribution.model import BatchResult
from cloud.blocks import BLOCK_MS, SETTLE_DELAY_MS, STALE_MARGIN_MS, DeviceBlocks, note_blocks, stale_marks
from cloud.influx import InfluxHttp
from cloud.points import event_lines
from cloud.results import Outcome, Window, recompute
from cloud.settle import settle
from config.plant import PlantModel
from config.wire import BatchEnded, BatchStarted, EventsMessage
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

S = 10_000  # a poll every 10 s
MINUTE = 60_000
T0 = 1_700_000_123_000  # not on a block boundary: batches start and end inside blocks
END = T0 + 70 * MINUTE
HOLE = range(180, 200)
"""m2's polls 30-33 min after T0 come late (an outbox draining after an outage)."""

PLANT = PlantModel.model_validate({
    "lines": [{"id": "line1"}, {"id": "line2"}],
    "meters": [{"id": "m1", "line": "line1", "poll_interval_s": 10, "rollover_kwh": 100_000},
               {"id": "m2", "line": "line2", "poll_interval_s": 10},
               {"id": "dry", "shared": True, "poll_interval_s": 10}],
    "factor_sets": [{"name": "loc", "version": "v1", "basis": "location", "default": {"g_per_kwh": 300}}],
})


def m1(k: int) -> float:
    """Rolls over at 100,000 kWh, with a spurious zero and a torn-read spike on the way."""
    if k == 50:
        return 0.0
    if k == 120:
        return 9_000_000.0
    return (99_900.0 + 0.9 * k) % 100_000


def value(meter: str, k: int) -> float:
    return {"m1": m1(k), "m2": 2_000.0 + 1.5 * k, "dry": 50.0 + 0.25 * k}[meter]


def reading_lines(meter: str, polls: range | list[int]) -> list[str]:
    return [f"reading,device={meter},gateway=gw,site=s energy_import_kwh={value(meter, k)!r} {T0 + k * S}"
            for k in polls]


def batch_lines() -> list[str]:
    return event_lines(EventsMessage(site="s", gateway="gw", seq=1, events=[
        BatchStarted(ts_ms=T0 + 5 * MINUTE, device="lc1", line="line1", batch_id="A", product="cell"),
        BatchEnded(ts_ms=T0 + 25 * MINUTE + 1234, device="lc1", line="line1", batch_id="A", product="cell",
                   good_units=90),
        BatchStarted(ts_ms=T0 + 15 * MINUTE + 500, device="lc2", line="line2", batch_id="B", product="cell"),
        BatchEnded(ts_ms=T0 + 50 * MINUTE, device="lc2", line="line2", batch_id="B", product="cell"),
    ]))


ALL_POLLS = range(0, (END - T0) // S + 1)
WINDOW = Window(T0, END)
SETTLED = END + BLOCK_MS + SETTLE_DELAY_MS
"""When every block holding [T0, END] may be packed."""


@pytest.fixture
async def influx(influxdb: InfluxDB) -> AsyncIterator[InfluxHttp]:
    client = InfluxHttp(influxdb.url, influxdb.database)
    yield client
    await client.close()


def numbers(results: list[BatchResult]) -> list[dict[str, object]]:
    return [r.model_dump(exclude={"revision", "computed_at_ms"}) for r in results]


async def whole_plant_from_readings(influx: InfluxHttp, now: int) -> Outcome:
    """Every meter polled throughout, the two batches, attributed from the readings."""
    lines = [line for meter in ("m1", "m2", "dry") for line in reading_lines(meter, ALL_POLLS)]
    await influx.write_lines(lines, precision="ms")
    await influx.write_lines(batch_lines(), precision="ns")
    return await recompute(influx, PLANT, WINDOW, now, settled=False)


async def test_blocks_give_the_very_numbers_of_the_readings_they_hold(influx: InfluxHttp) -> None:
    now = SETTLED
    from_readings = await whole_plant_from_readings(influx, now)
    [a, _b] = from_readings.current()
    assert {d.kind for d in a.discontinuities} == {"glitch", "rollover"}

    done = await settle(influx, PLANT, T0, END, now)
    blocks = (END // BLOCK_MS - T0 // BLOCK_MS + 1) * 3
    assert (done.packed, done.readings, done.too_big) == (blocks, 3 * len(ALL_POLLS), 0)
    assert (await settle(influx, PLANT, T0, END, now)).packed == 0  # all current now

    await influx.query('DELETE FROM "reading"')  # from here on, only the blocks hold the readings
    gone = await recompute(influx, PLANT, WINDOW, now + 1, settled=False)
    assert [r.energy_kwh for r in gone.current()] == [0.0, 0.0]  # the readings are really gone
    from_blocks = await recompute(influx, PLANT, WINDOW, now + 2)
    assert numbers(from_blocks.current()) == numbers(from_readings.current())


async def test_a_late_reading_makes_its_block_stale_until_it_is_packed_again(influx: InfluxHttp) -> None:
    on_time = [k for k in ALL_POLLS if k not in HOLE]
    lines = [line for meter in ("m1", "dry") for line in reading_lines(meter, ALL_POLLS)]
    await influx.write_lines(lines + reading_lines("m2", on_time), precision="ms")
    await influx.write_lines(batch_lines(), precision="ns")
    packed_at = SETTLED
    await settle(influx, PLANT, T0, END, packed_at)

    # the collector writes the late readings with their marks, by its clock at the write
    landed = packed_at + MINUTE
    late: DeviceBlocks = {}
    note_blocks(late, [{"device": "m2", "ts_ms": T0 + k * S} for k in HOLE])
    marks = stale_marks(late, landed, per_ms=1)
    assert len(marks) == len({(T0 + k * S) // BLOCK_MS for k in HOLE})
    await influx.write_lines(reading_lines("m2", HOLE) + marks, precision="ms")

    from_readings = (await recompute(influx, PLANT, WINDOW, landed + 1, settled=False)).current()
    assert from_readings[1].completeness == 1.0
    assert numbers((await recompute(influx, PLANT, WINDOW, landed + 2)).current()) == numbers(from_readings)

    repacked = await settle(influx, PLANT, T0, END, landed + STALE_MARGIN_MS + 1)
    assert repacked.packed == len(marks)  # the stale blocks only
    await influx.query('DELETE FROM "reading"')
    from_blocks = await recompute(influx, PLANT, WINDOW, landed + STALE_MARGIN_MS + 2)
    assert numbers(from_blocks.current()) == numbers(from_readings)


async def test_blocks_not_yet_packed_are_read_as_readings(influx: InfluxHttp) -> None:
    now = SETTLED
    from_readings = await whole_plant_from_readings(influx, now)
    done = await settle(influx, PLANT, T0, T0 + 20 * MINUTE, now)  # batch B's later blocks stay unpacked
    assert done.packed > 0
    from_both = await recompute(influx, PLANT, WINDOW, now + 1)
    assert numbers(from_both.current()) == numbers(from_readings.current())


def test_settle_cli_packs_the_window_and_reports_what_it_did(influxdb: InfluxDB, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        client = InfluxHttp(influxdb.url, influxdb.database)
        await client.write_lines(reading_lines("m1", ALL_POLLS), precision="ms")
        await client.close()

    asyncio.run(seed())
    (tmp_path / "plant.yaml").write_text(yaml.safe_dump(PLANT.model_dump(mode="json", by_alias=True)))
    config = tmp_path / "cloud.yaml"
    config.write_text(f"influx: {{url: '{influxdb.url}', database: {influxdb.database}}}\n"
                      "plant_file: plant.yaml\n")

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat()

    args = ["settle", "--config", str(config), "--from", iso(T0), "--to", iso(T0 + 25 * MINUTE)]
    assert main(args) == 0
    first = capsys.readouterr().out
    blocks = (T0 + 25 * MINUTE) // BLOCK_MS - T0 // BLOCK_MS + 1
    grid_end = ((T0 + 25 * MINUTE) // BLOCK_MS + 1) * BLOCK_MS
    packed = sum(T0 + k * S < grid_end for k in ALL_POLLS)
    assert first == f"{blocks * 3} blocks packed ({packed} readings), 0 already current\n"
    assert main(args) == 0
    assert capsys.readouterr().out == f"0 blocks packed (0 readings), {blocks * 3} already current\n"
