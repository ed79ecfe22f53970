"""Query answers from a real InfluxDB read the same in MessagePack (the default) as in JSON."""

from __future__ import annotations

import pytest

from cloud.influx import InfluxError, InfluxHttp, Series
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

LINES = [
    'reading,device=m1,site=s energy_import_kwh=1491.3292,power_w=-12.5,status="ok",flag=true 1700000000000',
    "reading,device=m1,site=s energy_import_kwh=1491.33,count=7i 1700000001000",
    'reading,device=m2,site=s energy_import_kwh=0.0,status="caf\\"é",flag=false 1700000000500',
]


async def _answers(influxdb: InfluxDB, statement: str) -> tuple[list[Series], list[Series]]:
    by_format = []
    for msgpack_answers in (True, False):
        influx = InfluxHttp(influxdb.url, influxdb.database, msgpack_answers=msgpack_answers)
        try:
            by_format.append(await influx.query(statement))
        finally:
            await influx.close()
    return by_format[0], by_format[1]


@pytest.mark.parametrize("statement", [
    'SELECT * FROM "reading" GROUP BY "device"',
    'SELECT "energy_import_kwh" FROM "reading" WHERE time >= 1700000000000ms GROUP BY "device"',
    'SELECT "device"::tag, "count", "flag" FROM "reading"',
    'SELECT * FROM "reading" WHERE "device" = \'nobody\'',
])
async def test_messagepack_and_json_answers_are_the_same_series(influxdb: InfluxDB, statement: str) -> None:
    writer = InfluxHttp(influxdb.url, influxdb.database)
    await writer.write_lines(LINES, precision="ms")
    await writer.close()
    packed, as_json = await _answers(influxdb, statement)
    assert packed == as_json
    if "nobody" not in statement:
        assert packed, "the statement found the written points"
        times = {row[0] for series in packed for row in series.values}
        assert times <= {1700000000000, 1700000000500, 1700000001000}  # epoch ms integers in both


@pytest.mark.parametrize(("database", "statement", "reason"), [
    (None, "SELECT FROM WHERE", "error parsing query"),  # a 400 with a MessagePack body
    ("nowhere", 'SELECT * FROM "reading"', "database not found: nowhere"),  # a 200 whose result is an error
])
async def test_a_refused_statement_names_influxdbs_reason_in_messagepack_too(
    influxdb: InfluxDB, database: str | None, statement: str, reason: str
) -> None:
    influx = InfluxHttp(influxdb.url, database or influxdb.database)
    try:
        with pytest.raises(InfluxError, match=reason) as caught:
            await influx.query(statement)
        assert caught.value.status == 400
    finally:
        await influx.close()
