"""The InfluxDB fault proxy fails, halves or hangs writes as armed, and passes the rest."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.faults.httpfault import Fault, InfluxFaultProxy
from tests.servers import InfluxDB

pytestmark = pytest.mark.faults

LINES = "\n".join(f"probe,device=m{i} value={i}.5 17000000000{i:02d}" for i in range(10))


@pytest.fixture
def proxy(influxdb: InfluxDB) -> Iterator[InfluxFaultProxy]:
    with InfluxFaultProxy(influxdb.url) as proxy:
        yield proxy


def _write(proxy: InfluxFaultProxy, db: str) -> httpx.Response:
    return httpx.post(f"{proxy.url}/write", params={"db": db, "precision": "ms"}, content=LINES, timeout=2)


def test_passes_writes_and_queries(proxy: InfluxFaultProxy, influxdb: InfluxDB) -> None:
    assert _write(proxy, influxdb.database).status_code == 204
    assert influxdb.count("probe", "value") == 10
    response = httpx.get(f"{proxy.url}/query", params={"db": influxdb.database, "q": "SHOW MEASUREMENTS"})
    assert response.status_code == 200
    assert "probe" in response.text


def test_fail_answers_the_status_and_stores_nothing(proxy: InfluxFaultProxy, influxdb: InfluxDB) -> None:
    proxy.arm(Fault.FAIL, count=1, status=503)
    assert _write(proxy, influxdb.database).status_code == 503
    assert influxdb.count("probe", "value") == 0
    assert _write(proxy, influxdb.database).status_code == 204


def test_partial_stores_half_and_answers_400(proxy: InfluxFaultProxy, influxdb: InfluxDB) -> None:
    proxy.arm(Fault.PARTIAL, count=1)
    response = _write(proxy, influxdb.database)
    assert response.status_code == 400
    assert "partial write" in response.json()["error"]
    assert influxdb.count("probe", "value") == 5


def test_hang_never_answers(proxy: InfluxFaultProxy, influxdb: InfluxDB) -> None:
    proxy.arm(Fault.HANG, count=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{proxy.url}/write", params={"db": influxdb.database}, content=LINES, timeout=0.5)
    assert proxy.stats.hung == 1
