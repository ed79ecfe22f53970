"""The fixtures start real servers that answer."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration


def test_mosquitto_accepts_connections(mosquitto: Mosquitto) -> None:
    with socket.create_connection((mosquitto.host, mosquitto.port), timeout=2):
        pass


def test_influxdb_round_trips_a_point(influxdb: InfluxDB) -> None:
    response = httpx.post(
        f"{influxdb.url}/write",
        params={"db": influxdb.database, "precision": "ms"},
        content=b"probe,device=m1 value=1.5 1700000000000",
    )
    assert response.status_code == 204
    series = influxdb.query('SELECT "value" FROM "probe"')
    assert series[0]["values"] == [[1700000000000, 1.5]]


def test_influxdb_v2_api_is_absent(influxdb: InfluxDB) -> None:
    """Why the store speaks the v1 API: InfluxDB 1.x has no /api/v2/write."""
    response = httpx.post(f"{influxdb.url}/api/v2/write", content=b"x v=1")
    assert response.status_code == 404
