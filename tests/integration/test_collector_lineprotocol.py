"""Names and values with commas, spaces, equals signs, quotes, backslashes and newlines
round-trip through a real InfluxDB unchanged, or are refused before writing (never altered)."""

from __future__ import annotations

import asyncio

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
