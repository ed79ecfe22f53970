"""Real Mosquitto and InfluxDB for a benchmark, reusing the test fixtures' servers.

Each stage gets fresh servers in its own temp dir, so one stage's backlog or compactions
never slow the next one down; they are stopped even when the stage fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import InfluxDB, Mosquitto


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-") as name:
        yield Path(name)


@contextmanager
def broker(root: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(root / "mosquitto").start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def influxdb(root: Path, database: str = "batchmeter") -> Iterator[InfluxDB]:
    server = InfluxDB(root / "influxdb", database=database).start()
    try:
        yield server
    finally:
        server.stop()
