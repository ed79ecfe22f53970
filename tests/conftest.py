"""Shared fixtures: real Mosquitto and InfluxDB on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import InfluxDB, Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def _influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path_factory.mktemp("influxdb")).start()
    yield server
    server.stop()


@pytest.fixture
def influxdb(_influx_server: InfluxDB, request: pytest.FixtureRequest) -> InfluxDB:
    """The session's InfluxDB server with a fresh database for this test."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    _influx_server.query(f'DROP DATABASE "{name}"')
    _influx_server.create_database(name)
    _influx_server.database = name
    return _influx_server


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    """An InfluxDB server of this test's own, for tests that stop or kill it."""
    server = InfluxDB(tmp_path / "influxdb").start()
    yield server
    server.stop()
