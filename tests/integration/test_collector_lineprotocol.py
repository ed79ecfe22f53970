"""Names and values with commas, spaces, equals signs, quotes, backslashes and newlines
round-trip through a real InfluxDB unchanged, or are refused before writing (never altered)."""

from __future__ import annotations

import asyncio
import random
import struct

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloud import lineprotocol as lp
from cloud.influx import InfluxHttp
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

tricky = st.text(alphabet=st.sampled_from(list(",= \"'\\\n#\tabcé中=")), min_size=1, max_size=12)


def reset(influxdb: InfluxDB) -> None:
    for q in (f'DROP DATABASE "{influxdb.database}"', f'CREATE DATABASE "{influxdb.database}"'):
        httpx.post(f"{influxdb.url}/query", data={"q": q}, timeout=10).raise_for_status()


def write(influxdb: InfluxDB, text: str) -> None:
    async def go() -> None:
        influx = InfluxHttp(influxdb.url, influxdb.database)
        try:
            assert await influx.store([text]) == []
        finally:
            await influx.close()

    asyncio.run(go())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=tricky, tag_key=tricky, tag_value=tricky, field_key=tricky, text=st.text(max_size=40))
@example(name='\\"', tag_key="=", tag_value="=", field_key=",", text="")  # InfluxDB read `\"` back as `"`
def test_names_round_trip_or_are_refused(
    influxdb: InfluxDB, name: str, tag_key: str, tag_value: str, field_key: str, text: str
) -> None:
    representable = (
        lp.representable(tag_key)
        and lp.representable(tag_value)
        and lp.representable(field_key)
        and lp.representable(name)
        and not name.startswith("#")
        and tag_key != field_key
    )
    if not representable:
        if tag_key != field_key:
            with pytest.raises(lp.LineProtocolError):
                lp.line(name, {tag_key: tag_value}, {field_key: text}, 1)
        return
    reset(influxdb)
    write(influxdb, lp.line(name, {tag_key: tag_value}, {field_key: text, "n": 2.5}, 1_000_000))
    series = influxdb.query("SELECT * FROM /.*/")
    assert len(series) == 1
    columns, values = series[0]["columns"], series[0]["values"]
    assert isinstance(columns, list)
    assert isinstance(values, list)
    row = dict(zip(columns, values[0], strict=True))
    assert series[0]["name"] == name
    assert row[tag_key] == tag_value
    assert row[field_key] == text


def test_a_newline_in_a_tag_value_is_refused_not_altered() -> None:
    with pytest.raises(lp.LineProtocolError, match="newline"):
        lp.line("event", {"batch_id": "B1\nB2"}, {"x": 1.0}, 1)


def test_floats_read_back_from_influxdb_as_the_same_doubles(influxdb: InfluxDB) -> None:
    """Every form a float's text takes (plain, 0.00001, 2.5e-7, 1e+16, subnormal, the largest
    double) is the same double once stored: read back as MessagePack, bit for bit."""
    rng = random.Random(9)
    values = [5e-324, 2.2250738585072014e-308, 1e-5, 2.5e-7, 0.1, 1491.3292, 1e15, 1e16, 1e22,
              1.7976931348623157e308, -7.25e-12, 0.0]
    values += [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(300)]
    ms = 1_000_000  # one point per millisecond (the store writes ns; answers come in ms)
    lines = [lp.line("reading", {"device": "m1"}, {"v": value}, k * ms) for k, value in enumerate(values)]

    async def round_trip() -> list[float]:
        influx = InfluxHttp(influxdb.url, influxdb.database)
        try:
            assert await influx.store(lines) == []
            [series] = await influx.query('SELECT "v" FROM "reading"')
            return [row[1] for row in series.values]
        finally:
            await influx.close()

    stored = asyncio.run(round_trip())
    assert [struct.pack("<d", v) for v in stored] == [struct.pack("<d", v) for v in values]
