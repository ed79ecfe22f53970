"""Long batches from thinned settled blocks against a real InfluxDB: most readings elided, the
very numbers of the readings all the same."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cloud.attribution.model import BatchResult
from cloud.influx import InfluxHttp
from cloud.points import event_lines
from cloud.results import Window, load_inputs, recompute
from cloud.settle import settle
from config.plant import PlantModel
from config.wire import BatchEnded, BatchStarted, EventsMessage
from tests.recording import RecordingTransport
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

S = 10_000  # a poll every 10 s
MINUTE = 60_000
HOUR = 60 * MINUTE
T0 = 1_700_000_123_000
END = T0 + 5 * HOUR
POLLS = range(0, (END - T0) // S + 1)
OFFLINE = range(700, 730)
"""dry misses 5 minutes of polls inside batch A: a gap, in a block read whole."""


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


PLANT = PlantModel.model_validate({
    "lines": [{"id": "line1"}, {"id": "line2"}],
    "meters": [{"id": "m1", "line": "line1", "poll_interval_s": 10, "max_power_kw": 1_000},
               {"id": "m3", "line": "line1", "poll_interval_s": 10},
               {"id": "m2", "line": "line2", "poll_interval_s": 10, "rollover_kwh": 100_000},
               {"id": "dry", "shared": True, "poll_interval_s": 10, "max_power_kw": 500}],
    "factor_sets": [
        {"name": "loc", "version": "v1", "basis": "location", "default": {"series": [
            {"from": iso(0), "g_per_kwh": 300},
            {"from": iso(T0 + 2 * HOUR + 123_456), "g_per_kwh": 250},  # inside a block, inside batch A
            {"from": iso(T0 + 3 * HOUR), "g_per_kwh": 280}]}},  # on a block boundary
    ],
})


def value(meter: str, k: int) -> float:
    if meter == "m1":
        return 1_000.0 + 0.9 * k + 0.05 * math.sin(k)  # uneven, never falling
    if meter == "m3":
        return 500.0 + 0.5 * k
    if meter == "m2":
        return (99_000.0 + 1.5 * k) % 100_000  # rolls over inside batch B: loaded whole
    return 50.0 + 0.25 * k


def polls(meter: str) -> list[int]:
    if meter == "m3":
        return [k for k in POLLS if k % 7 != 3]  # a poll in seven missing: 86 % complete, no gap
    if meter == "dry":
        return [k for k in POLLS if k not in OFFLINE]
    return list(POLLS)


def reading_lines() -> list[str]:
    return [f"reading,device={meter},gateway=gw,site=s energy_import_kwh={value(meter, k)!r} {T0 + k * S}"
            for meter in ("m1", "m3", "m2", "dry") for k in polls(meter)]


def batch_lines() -> list[str]:
    def started(ts: int, line: str, batch: str) -> BatchStarted:
        return BatchStarted(ts_ms=ts, device=f"lc-{line}", line=line, batch_id=batch, product="cell")

    def ended(ts: int, line: str, batch: str) -> BatchEnded:
        return BatchEnded(ts_ms=ts, device=f"lc-{line}", line=line, batch_id=batch, product="cell",
                          good_units=100)

    return event_lines(EventsMessage(site="s", gateway="gw", seq=1, events=[
        started(T0 + 7 * MINUTE + 3, "line1", "A"), ended(T0 + 4 * HOUR + 3 * MINUTE + 77, "line1", "A"),
        started(T0 + HOUR + 1_000, "line2", "B"), ended(T0 + 3 * HOUR, "line2", "B"),
        started(T0 + 3 * HOUR + 20 * MINUTE + 5, "line2", "C"),
        ended(T0 + 4 * HOUR + 30 * MINUTE, "line2", "C"),
    ]))


WINDOW = Window(T0, END)
NOW = END + 2 * HOUR


@pytest.fixture
async def influx(influxdb: InfluxDB) -> AsyncIterator[InfluxHttp]:
    client = InfluxHttp(influxdb.url, influxdb.database)
    await client.write_lines(reading_lines(), precision="ms")
    await client.write_lines(batch_lines(), precision="ns")
    yield client
    await client.close()


def numbers(results: list[BatchResult]) -> list[dict[str, object]]:
    return [r.model_dump(exclude={"revision", "computed_at_ms"}) for r in results]


async def test_long_batches_from_thinned_blocks_give_the_numbers_of_the_readings(influx: InfluxHttp) -> None:
    from_readings = (await recompute(influx, PLANT, WINDOW, NOW, settled=False)).current()
    assert [r.batch_id for r in from_readings] == ["A", "B", "C"]
    [a, b, _c] = from_readings
    assert {d.kind for d in b.discontinuities} == {"rollover"}
    assert a.completeness_by_meter["dry"].gaps
    assert 0.85 < a.completeness_by_meter["m3"].share < 0.87

    await settle(influx, PLANT, T0, END, NOW)
    await influx.query('DELETE FROM "reading"')  # only the blocks hold the readings now
    for batch in from_readings:
        one = Window(batch.start_ms, batch.start_ms)
        inputs = await load_inputs(influx, PLANT, one, NOW - 1)
        thinned = {m for m, elided in inputs.elided.items() if elided}
        if batch.batch_id == "B":
            assert "m2" not in thinned  # its rollover, inside B, is a break: read whole
        if batch.batch_id == "C":
            assert thinned == {"m2", "dry"}  # m2 is ordinary after its rollover
        if batch.line == "line1":
            assert thinned == {"m1", "m3", "dry"}
            assert len(inputs.columns["m1"][0]) < len(POLLS) / 10
        asked = RecordingTransport()
        watched = InfluxHttp(influx.url, influx.database, transport=asked)
        outcome = await recompute(watched, PLANT, one, NOW + 1)
        await watched.close()
        # every cut was known when the blocks were packed: no block of m1 or m3 (ordinary
        # throughout) has its data read, only their summaries and the readings kept at cuts
        data = [q for q in asked.statements if q.startswith('SELECT "data"')]
        assert all("'m1'" not in q and "'m3'" not in q for q in data)
        got, want = numbers(outcome.current())[0], numbers([batch])[0]
        assert {k: (got[k], want[k]) for k in got if got[k] != want[k]} == {}
    assert numbers((await recompute(influx, PLANT, WINDOW, NOW + 2)).current()) == numbers(from_readings)


FAST = PlantModel.model_validate({
    "lines": [{"id": "press"}],
    "meters": [{"id": "f1", "line": "press", "poll_interval_s": 0.25, "max_power_kw": 1_000}],
})
QUARTER_S = 250


def fast_reading_lines() -> list[str]:
    """Three hours at 4 Hz, rising, whose values' low bits are noise: no hour of them packs
    into a string field."""
    noise = random.Random(7)
    values = [100.0 + 0.001 * k + 1e-4 * noise.random() for k in range(3 * HOUR // QUARTER_S)]
    return [f"reading,device=f1,gateway=gw,site=s energy_import_kwh={v!r} {T0 + k * QUARTER_S}"
            for k, v in enumerate(values)]


async def test_a_meter_too_fast_to_pack_is_passed_over_by_its_blocks_summaries_and_cuts(
    influxdb: InfluxDB,
) -> None:
    influx = InfluxHttp(influxdb.url, influxdb.database)
    started = BatchStarted(ts_ms=T0 + 40 * MINUTE + 3, device="lc", line="press", batch_id="P",
                           product="cell")
    ended = BatchEnded(ts_ms=T0 + 2 * HOUR + 20 * MINUTE, device="lc", line="press", batch_id="P",
                       product="cell", good_units=10)
    events = EventsMessage(site="s", gateway="gw", seq=1, events=[started, ended])
    await influx.write_lines(fast_reading_lines(), precision="ms")
    await influx.write_lines(event_lines(events), precision="ns")
    window = Window(T0, T0 + 3 * HOUR)
    [from_readings] = (await recompute(influx, FAST, window, NOW, settled=False)).current()
    assert from_readings.completeness == 1.0

    done = await settle(influx, FAST, T0, T0 + 3 * HOUR, NOW)
    assert (done.packed, done.too_big) == (4, 3)  # the three hours P spans hold no readings
    await influx.query('DELETE FROM "reading"')
    one = Window(started.ts_ms, started.ts_ms)
    inputs = await load_inputs(influx, FAST, one, NOW - 1)
    assert inputs.elided["f1"]  # served by summaries and cuts alone: the readings are gone
    [from_blocks] = (await recompute(influx, FAST, one, NOW + 1)).current()
    assert numbers([from_blocks]) == numbers([from_readings])
    await influx.close()
