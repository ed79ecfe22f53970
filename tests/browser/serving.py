"""Seed a real InfluxDB with batch results and readings, and run `batchmeter-cloud serve` on it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cloud import lineprotocol as lp
from cloud.attribution.model import BatchResult
from cloud.results import result_line
from tests.browser.samples import sample_curve, sample_results
from tests.servers import InfluxDB, free_port, wait_until

TOKEN = "integration-token-0f3a9c"


def write_lines(influxdb: InfluxDB, lines: list[str]) -> None:
    response = httpx.post(f"{influxdb.url}/write", params={"db": influxdb.database, "precision": "ms"},
                          content="\n".join(lines).encode(), timeout=30)
    assert response.status_code == 204, response.text


def seed(influxdb: InfluxDB) -> list[BatchResult]:
    """Store the sample results the way attribution does, and power readings for their meters."""
    results = sample_results()
    lines = [result_line(r) for r in results]
    for r in results:
        for meter, points in sample_curve(r).items():
            lines += [lp.line("reading", {"site": "s1", "gateway": "g1", "device": meter}, {"power_w": w}, ts)
                      for ts, w in points]
    write_lines(influxdb, lines)
    return results


@dataclass
class Served:
    url: str
    token: str
    results: list[BatchResult]
    log_path: Path

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(self.url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


@contextmanager
def served(influxdb: InfluxDB, workdir: Path, results: list[BatchResult] | None = None) -> Iterator[Served]:
    """`batchmeter-cloud serve` as its own process on a free port, over the database seeded with
    the sample results (or, given `results`, over what the caller stored)."""
    results = seed(influxdb) if results is None else results
    port = free_port()
    config = workdir / "cloud.yaml"
    config.write_text(
        f"influx:\n  url: {influxdb.url}\n  database: {influxdb.database}\n"
        f"api:\n  host: 127.0.0.1\n  port: {port}\n  tokens: [{TOKEN}]\n"
    )
    log_path = workdir / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cloud", "serve", "--config", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is None and httpx.get(f"{url}/healthz", timeout=1).status_code == 200,
                   30, f"batchmeter-cloud serve on port {port}")
        yield Served(url, TOKEN, results, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
