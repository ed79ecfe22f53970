"""End-to-end latency, poll to queryable: 4 agents x 50 devices at 1 Hz -> Mosquitto ->
collector -> InfluxDB, probed by query every PROBE_S.

A reading's latency is the time the probe's answer first held it minus its `ts_ms` (taken
by the agent at poll time), so it includes up to one probe interval of waiting; the
probe interval is reported beside the numbers.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.cloud_fixture import collector
from bench.edge import agent
from bench.modbus_fixture import devices
from bench.options import Options
from bench.results import Entry
from bench.services import broker, influxdb
from tests.servers import wait_until

AGENTS = 4
DEVICES_PER_AGENT = 50
PROBE_S = 0.1
LOOKBACK_MS = 5000
"""Each probe looks this far back; a reading not visible by then counts as lost to the probe."""


class Probe:
    def __init__(self, url: str, database: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)
        self.database = database
        self.first_seen: dict[tuple[str, int], float] = {}

    def once(self) -> int:
        """Query the recent readings; record the first sighting of each; return rows seen."""
        since = int(time.time() * 1000) - LOOKBACK_MS
        query = f'SELECT "power_w", "device" FROM "reading" WHERE time > {since}ms'
        response = self.client.get("/query", params={"db": self.database, "q": query, "epoch": "ms"})
        answered = time.time() * 1000
        series = response.json()["results"][0].get("series", [])
        rows = series[0]["values"] if series else []
        for ts_ms, _power, device in rows:
            self.first_seen.setdefault((device, int(ts_ms)), answered)
        return len(rows)

    def devices_seen(self) -> int:
        return len({device for device, _ in self.first_seen})

    def latencies(self, since_ms: int, until_ms: int) -> list[float]:
        return sorted(seen - ts for (_, ts), seen in self.first_seen.items() if since_ms <= ts < until_ms)

    def close(self) -> None:
        self.client.close()


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))]


def _measure(probe: Probe, options: Options) -> tuple[list[float], int]:
    probe.first_seen.clear()
    since = int(time.time() * 1000) + 1000
    until = since + int(options.window_s * 1000)
    while time.time() * 1000 < until + LOOKBACK_MS - 1000:
        probe.once()
        time.sleep(PROBE_S)  # the probe interval itself, the resolution of the measurement
    found = probe.latencies(since, until)
    expected = AGENTS * DEVICES_PER_AGENT * (until - since) // 1000
    return found, expected


def run(options: Options, workdir: Path) -> list[Entry]:
    total = AGENTS * DEVICES_PER_AGENT
    with (devices(total, workdir) as ports, broker(workdir) as mqtt, influxdb(workdir) as influx,
          ExitStack() as stack):
        stack.enter_context(collector(workdir, mqtt.port, influx.url, influx.database))
        for index in range(AGENTS):
            chunk = ports[index * DEVICES_PER_AGENT : (index + 1) * DEVICES_PER_AGENT]
            stack.enter_context(agent(f"lat{index}", chunk, mqtt.port, workdir))
        probe = Probe(influx.url, influx.database)
        stack.callback(probe.close)
        wait_until(lambda: probe.once() >= 0 and probe.devices_seen() == total, 90,
                   f"readings of {total} devices")
        time.sleep(options.warmup_s)  # connections settled, first flushes out of the way
        found, expected = _measure(probe, options)
    if not found:
        raise RuntimeError("no reading became visible in the window")
    note = f"{total} devices at 1 Hz ({AGENTS} agents x {DEVICES_PER_AGENT}); probe every {PROBE_S} s"
    return [
        Entry("e2e latency p50 (poll -> queryable)", percentile(found, 0.5) / 1000, "s", note=note),
        Entry("e2e latency p99 (poll -> queryable)", percentile(found, 0.99) / 1000, "s", note=note),
        Entry("e2e latency max", found[-1] / 1000, "s"),
        Entry("e2e readings not visible within 5 s", max(0, expected - len(found)), "readings",
              note=f"of {expected} polled in the window"),
    ]
